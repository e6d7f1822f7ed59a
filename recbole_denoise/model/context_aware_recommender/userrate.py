"""
UserRate
################################################
A trivial baseline for labeled data: the user's training rate of the label (how often she clicks, or likes).
"""

from recbole_denoise.model.label_rate import LabelRate


class UserRate(LabelRate):
    r"""Score: the user's training rate of the label (how often she clicks, or likes); shrunk toward the global rate by ``prior_samples``
    (:class:`~recbole_denoise.model.label_rate.LabelRate`)."""

    def keys(self, interaction):
        return interaction[self.USER_ID].long()

    def key_count(self):
        return self.n_users
