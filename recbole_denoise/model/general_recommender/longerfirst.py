"""
LongerFirst
################################################
A trivial ranker for watch-time data: longer videos first, the mirror of ShorterFirst.
DVR (Zheng et al., ACM MM 2022; code tsinghua-fib-lab/WTG-DVR, ``LongModel``) ranks by
duration alone to show how raw watch time rewards long videos; under the own-items
protocol with a full-watch label it shows the opposite bias (short videos are finished
more often), so a table carries both.
"""

import torch
from recbole.model.abstract_recommender import GeneralRecommender
from recbole.utils import InputType, ModelType

from recbole_denoise.data.watch_time_dataset import DURATION_FIELD, WatchTimeDataset


class LongerFirst(GeneralRecommender):
    r"""Score of a view of duration :math:`d`: :math:`p = d / (d + \tilde d)`, with
    :math:`\tilde d` the median training duration: increasing in :math:`d`, in [0, 1)
    for LogLoss, not calibrated (``1 - p`` is ShorterFirst's score). Uses the duration of
    the scored interaction, known before the video is watched. Full-catalogue ranking is
    not defined for it (it needs the view's duration)."""

    input_type = InputType.POINTWISE
    type = ModelType.TRADITIONAL
    dataset_class = WatchTimeDataset

    def __init__(self, config, dataset):
        super(LongerFirst, self).__init__(config, dataset)
        durations = dataset.inter_feat[DURATION_FIELD].float()
        median = durations.median() if len(durations) else torch.tensor(1.0)
        self.register_buffer("median_duration", median.clamp(min=1e-6).to(self.device))
        self.fake_loss = torch.nn.Parameter(torch.zeros(1))  # RecBole's trainer needs a parameter

    def calculate_loss(self, interaction):
        return self.fake_loss.sum() * 0.0

    def predict(self, interaction):
        duration = interaction[DURATION_FIELD].float()
        return duration / (duration + self.median_duration)
