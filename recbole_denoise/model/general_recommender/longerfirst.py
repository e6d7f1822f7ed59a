"""
LongerFirst
################################################
A trivial ranker for watch-time data: longer videos first, the mirror of ShorterFirst.
DVR (Zheng et al., ACM MM 2022; code tsinghua-fib-lab/WTG-DVR, ``LongModel``) ranks by
duration alone to show how raw watch time rewards long videos; under the own-items
protocol with a full-watch label it shows the opposite bias (short videos are finished
more often), so a table carries both.
"""

from recbole_denoise.model.general_recommender.shorterfirst import ShorterFirst


class LongerFirst(ShorterFirst):
    r"""Score of a view of duration :math:`d`: :math:`p = d / (d + \tilde d)`, with
    :math:`\tilde d` the median training duration: increasing in :math:`d`, in [0, 1)
    for LogLoss, not calibrated (``1 - p`` is ShorterFirst's score, whose median and
    training it shares). Uses the duration of the scored interaction, known before the
    video is watched. Full-catalogue ranking is not defined for it (it needs the view's
    duration)."""

    def predict(self, interaction):
        return 1.0 - super().predict(interaction)
