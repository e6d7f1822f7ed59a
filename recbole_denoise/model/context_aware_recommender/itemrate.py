"""
ItemRate
################################################
A trivial baseline for labeled data: the item's training rate of the label (how often it is clicked, or liked).
"""

from recbole_denoise.model.label_rate import LabelRate


class ItemRate(LabelRate):
    r"""Score: the item's training rate of the label (how often it is clicked, or liked); shrunk toward the global rate by ``prior_samples``
    (:class:`~recbole_denoise.model.label_rate.LabelRate`)."""

    def keys(self, interaction):
        return interaction[self.ITEM_ID].long()

    def key_count(self):
        return self.n_items
