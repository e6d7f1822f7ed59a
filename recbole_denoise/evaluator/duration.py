"""Duration-debiased own-items metrics of DVR (Zheng et al., "DVR: Micro-Video
Recommendation Optimizing Watch-Time-Gain under Duration Bias", ACM MM 2022; code
tsinghua-fib-lab/WTG-DVR, ``deepctr/layers/utils.py::metrics_at_k``).

Long videos collect long play times whatever the user thinks of them, so DVR measures
a view by its watch-time gain (WTG): the play time standardised within the view's
duration bucket,

.. math:: WTG = (w - \\mu_{b(d)}) / \\sigma_{b(d)},

with :math:`\\mu_b, \\sigma_b` the mean and (population) standard deviation of the play
time of the *training* views in bucket :math:`b`. Buckets are equal-frequency over the
training durations (``own_items_duration_buckets`` of them, by
``data.watch_time.duration_bucket_edges``, the rule of the duration-aware models too;
DVR's released code ships WTG precomputed, so its bucket rule cannot be read from it). Metrics, per user over her
own test views ranked by score, averaged over the users with more than k test views
(DVR's filter):

- ``GAIN`` -> ``gain@k``: the mean WTG of the top k (DVR's GAIN@K);
- ``DCWTG`` -> ``dcwtg@k``: :math:`\\sum_{r \\le k} WTG_r / \\ln(1 + r)`, natural log,
  not normalised (DVR's DCG@K of the gain);
- ``DurationGAUC`` -> ``durationgauc``: RecBole's GAUC with (user, duration bucket)
  as the group, so only pairs of views of similar duration count: a ranker that knows
  nothing but the duration scores 0.5 (our construction, after DVR's argument).
"""

from collections import namedtuple
from logging import getLogger

import numpy as np

from recbole_denoise.data.watch_time import duration_bucket_edges
from recbole_denoise.data.watch_time_dataset import DURATION_FIELD, PLAY_FIELD
from recbole_denoise.evaluator.grouping import grouped_auc, run_starts, user_order

DURATION_METRICS = ("gain", "dcwtg", "durationgauc")
DEFAULT_BUCKETS = 10

WatchRows = namedtuple("WatchRows", "play_time duration buckets")
WatchRows.__doc__ = """The test rows' play time and duration (seconds) and the training split's
:class:`DurationBuckets`."""


class DurationBuckets:
    """Equal-frequency duration buckets and their play-time statistics, fitted on the
    training views only. ``edges`` are the inner boundaries: bucket ``b`` holds the
    durations ``edges[b-1] <= d < edges[b]``; durations outside the training range fall
    in the first or last bucket."""

    def __init__(self, edges, mean, std):
        self.edges, self.mean, self.std = np.asarray(edges, float), np.asarray(mean, float), np.asarray(std, float)

    @classmethod
    def fit(cls, durations, play_times, n_buckets=DEFAULT_BUCKETS):
        durations, play_times = np.asarray(durations, float), np.asarray(play_times, float)
        edges = duration_bucket_edges(durations, n_buckets, key="own_items_duration_buckets")
        bucket = np.searchsorted(edges, durations, side="right")
        count = np.bincount(bucket, minlength=len(edges) + 1)
        mean = np.bincount(bucket, play_times, minlength=len(edges) + 1) / count
        std = np.sqrt(np.bincount(bucket, (play_times - mean[bucket]) ** 2, minlength=len(edges) + 1) / count)
        return cls(edges, mean, cls._nonzero_std(std, play_times))

    @staticmethod
    def _nonzero_std(std, play_times):
        flat = std <= 0
        if flat.any():
            fallback = play_times.std() if play_times.std() > 0 else 1.0
            getLogger().warning(f"duration metrics: {int(flat.sum())} duration bucket(s) have one play time only; "
                                f"their WTG divides by the whole training split's std ({fallback:.4g} s) instead")
            std = np.where(flat, fallback, std)
        return std

    def bucket_of(self, durations):
        return np.searchsorted(self.edges, np.asarray(durations, float), side="right")

    def wtg(self, play_times, durations):
        """DVR's watch-time gain of each view."""
        bucket = self.bucket_of(durations)
        return (np.asarray(play_times, float) - self.mean[bucket]) / self.std[bucket]


def training_buckets(train_dataset, n_buckets, metric):
    """:class:`DurationBuckets` of a training split (a ``WatchTimeDataset``)."""
    inter = getattr(train_dataset, "inter_feat", None)
    if inter is None or PLAY_FIELD not in inter or DURATION_FIELD not in inter:
        raise ValueError(f"own_items_metrics: {metric} needs the training split's {PLAY_FIELD} and "
                         f"{DURATION_FIELD} fields (a WatchTimeDataset)")
    column = inter[DURATION_FIELD]
    return DurationBuckets.fit(np.asarray(column), np.asarray(inter[PLAY_FIELD]), n_buckets)


def duration_metric(name, users, scores, labels, topk, watch, random_keys):
    """``{key: value}`` of one duration metric (module docstring). Ties are ordered by
    ``random_keys``, or, when ``None``, pessimistically (lower WTG first)."""
    if watch is None:
        raise ValueError(f"own_items_metrics: {name} needs the test rows' play_time and duration and the "
                         f"training split's duration buckets (a WatchTimeDataset, evaluated after fit)")
    key = name.lower()
    if key == "durationgauc":
        n_buckets = len(watch.buckets.edges) + 1
        groups = np.asarray(users, dtype=np.int64) * n_buckets + watch.buckets.bucket_of(watch.duration)
        return {key: grouped_auc(groups, scores, labels)}
    gain = watch.buckets.wtg(watch.play_time, watch.duration)
    per_rank, counts = _top_gains(users, scores, gain, max(topk), random_keys)
    result = {}
    for k in topk:
        eligible = counts > k
        top = per_rank[eligible, :k]
        if key == "gain":
            values = top.mean(axis=1)
        else:
            values = (top / np.log(1 + np.arange(1, k + 1))).sum(axis=1)
        result[f"{key}@{k}"] = float(values.mean()) if len(values) else float("nan")
    return result


def _top_gains(users, scores, gain, max_k, random_keys):
    """``[n_users, max_k]`` WTG by rank (0 beyond a user's views) and each user's count."""
    order = user_order(users, scores, gain if random_keys is None else random_keys)
    users, gain = np.asarray(users)[order], gain[order]
    starts, ends = run_starts(users)
    position = np.arange(len(users)) - np.repeat(starts, ends - starts)
    rows = np.repeat(np.arange(len(starts)), ends - starts)
    keep = position < max_k
    per_rank = np.zeros((len(starts), max_k))
    per_rank[rows[keep], position[keep]] = gain[keep]
    return per_rank, ends - starts
