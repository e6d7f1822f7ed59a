"""
ClickDIN
################################################
RecBole's DIN (Zhou et al., "Deep Interest Network for Click-Through Rate Prediction",
KDD 2018; ``recbole.model.sequential_recommender.DIN``) fed with the CLICK history of a
feedback dataset, on the same samples and split as DUMN.

RecBole 1.2.1's DIN is a sequential recommender: its history is every earlier row of the
user, label-0 rows (impressions without a click) included, built by a
``SequentialDataset``. DUMN's paper compares with DIN over the click sequence, so this
model keeps RecBole's DIN network, weights and loss unchanged and only replaces where the
sequence comes from: the user's last ``history_length`` click events strictly before the
sample's time (``FeedbackHistories.window("click", ...)``, the window DUMN reads), left-
aligned with their length as RecBole's DIN expects.
"""

import torch
from recbole.model.layers import Dice
from recbole.model.sequential_recommender.din import DIN
from recbole.utils import ModelType

from recbole_denoise.data.feedback_dataset import FeedbackHistoryDataset


class ClickDIN(DIN):
    r"""RecBole's DIN (attention over the history by the target, eq. 3 of the DIN paper,
    then an MLP with Dice) whose history is the user's click events strictly before the
    sample's time, from :class:`FeedbackHistoryDataset`; item features of the history come
    from the item table, as in RecBole's DIN. Trained pointwise with BCE on the label."""

    type = ModelType.CONTEXT
    dataset_class = FeedbackHistoryDataset

    def __init__(self, config, dataset):
        super(ClickDIN, self).__init__(config, dataset)

        # load parameters info
        self.TIME = config["TIME_FIELD"]
        self.history_length = int(config["history_length"])  # T, the click window

        self.histories = dataset.feedback_histories
        # RecBole's DIN sizes its attention mask by MAX_ITEM_LIST_LENGTH and keeps it as a
        # plain attribute: size it by the window and make it follow .to(device)
        self.max_seq_length = self.history_length
        del self.attention.mask_mat
        self.attention.register_buffer(
            "mask_mat", torch.arange(self.history_length, device=self.device).view(1, -1), persistent=False)
        # RecBole's Dice keeps alpha as a plain tensor attribute (moved in forward); a
        # non-persistent buffer follows .to(device) and leaves the checkpoint as it was.
        # (alpha is a constant zero there, not a parameter: kept as RecBole has it)
        for module in self.modules():
            if isinstance(module, Dice):
                alpha = module.alpha
                del module.alpha
                module.register_buffer("alpha", alpha, persistent=False)
        # RecBole's DIN lists its embedding layer as an "other parameter"; it is a submodule,
        # so its weights are in the state_dict already, and a module is no plain value for a
        # weights-only checkpoint
        self.other_parameter_name = []

    def click_sequence(self, interaction):
        """``(item_seq [B, T], item_seq_len [B])``: the click window, left-aligned."""
        users, times = interaction[self.USER_ID], interaction[self.TIME]
        ids, mask, _ = self.histories.window("click", users, times, self.history_length)
        lengths = mask.sum(dim=1)
        positions = torch.arange(self.history_length, device=lengths.device)
        # the window is right-aligned (most recent last): shift each row left by its padding
        source = (positions.unsqueeze(0) + (self.history_length - lengths).unsqueeze(1)).clamp(
            max=self.history_length - 1)
        items = ids[self.ITEM_ID].gather(1, source)
        items = torch.where(positions.unsqueeze(0) < lengths.unsqueeze(1), items, torch.zeros_like(items))
        return items, lengths

    def _with_clicks(self, interaction):
        item_seq, item_seq_len = self.click_sequence(interaction)
        interaction.update(type(interaction)({self.ITEM_SEQ: item_seq, self.ITEM_SEQ_LEN: item_seq_len}))
        return interaction

    def calculate_loss(self, interaction):
        return super(ClickDIN, self).calculate_loss(self._with_clicks(interaction))

    def predict(self, interaction):
        return super(ClickDIN, self).predict(self._with_clicks(interaction))
