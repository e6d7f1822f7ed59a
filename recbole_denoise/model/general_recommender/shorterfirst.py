"""
ShorterFirst
################################################
A trivial ranker for watch-time data: shorter videos first. Short videos are watched
to the end far more often, so under the own-items protocol this ranker is strong
(REFERENCE.md, KuaiRand-1K: NDCG@5 0.683, AUC 0.77, above the authors' DPSkipNet).
"""

import torch
from recbole.model.abstract_recommender import GeneralRecommender
from recbole.utils import InputType, ModelType

from recbole_denoise.data.watch_time_dataset import DURATION_FIELD, WatchTimeDataset


class ShorterFirst(GeneralRecommender):
    r"""Score of a view of duration :math:`d`: :math:`p = 1 / (1 + d / \tilde d)`, with
    :math:`\tilde d` the median training duration: decreasing in :math:`d`, in (0, 1)
    for LogLoss, not calibrated. Uses the duration of the scored interaction, a
    property of the video known before it is watched. Full-catalogue ranking is not
    defined for it (it needs the view's duration)."""

    input_type = InputType.POINTWISE
    type = ModelType.TRADITIONAL
    dataset_class = WatchTimeDataset

    def __init__(self, config, dataset):
        super(ShorterFirst, self).__init__(config, dataset)
        durations = dataset.inter_feat[DURATION_FIELD].float()
        median = durations.median() if len(durations) else torch.tensor(1.0)
        self.register_buffer("median_duration", median.clamp(min=1e-6).to(self.device))
        self.fake_loss = torch.nn.Parameter(torch.zeros(1))  # RecBole's trainer needs a parameter

    def calculate_loss(self, interaction):
        return self.fake_loss.sum() * 0.0

    def predict(self, interaction):
        return 1.0 / (1.0 + interaction[DURATION_FIELD].float() / self.median_duration)
