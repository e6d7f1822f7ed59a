"""
GlobalRate
################################################
A trivial baseline for labeled data: one rate for every sample, the training rate of the label.
Its AUC is 0.5 by construction (every pair tied) and its LogLoss the entropy of the
label: a model's LogLoss should be below it.
"""

import torch

from recbole_denoise.model.label_rate import LabelRate


class GlobalRate(LabelRate):
    r"""Score: the training rate of the label, the same for every sample
    (:class:`~recbole_denoise.model.label_rate.LabelRate` with one key)."""

    def keys(self, interaction):
        return torch.zeros(len(interaction[self.ITEM_ID]), dtype=torch.long, device=interaction[self.ITEM_ID].device)

    def key_count(self):
        return 1
