"""Per-user (per-group) ordering and grouped AUC shared by the own-items metrics."""

import numpy as np


def user_order(users, scores, tiebreak):
    """Row order by user, then by descending score, then by ascending ``tiebreak``."""
    return np.lexsort((tiebreak, -np.asarray(scores, dtype=float), users))


def run_starts(*sorted_columns):
    """Start of every run of equal values over the (already sorted) columns, and its end."""
    n = len(sorted_columns[0])
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    change = np.zeros(n, dtype=bool)
    change[:1] = True
    for column in sorted_columns:
        change[1:] |= column[1:] != column[:-1]
    starts = np.flatnonzero(change)
    return starts, np.r_[starts[1:], n]


def grouped_auc(groups, scores, labels):
    """RecBole's GAUC (``recbole.evaluator.metrics.GAUC``): per group
    :math:`AUC_g = (\\sum_{i \\in R_g} rank_i - |R_g|(|R_g|+1)/2) / (|R_g| (n_g - |R_g|))`
    with ascending ranks, tied scores sharing their average rank; the mean of
    :math:`AUC_g` weighted by :math:`|R_g|`, the group's positives, over groups with both
    classes (``nan`` when there is none)."""
    groups, scores = np.asarray(groups), np.asarray(scores, dtype=float)
    positive = (np.asarray(labels) > 0.5).astype(float)
    if not len(groups):
        return float("nan")
    order = np.lexsort((scores, groups))
    groups, scores, positive = groups[order], scores[order], positive[order]
    starts, ends = run_starts(groups)
    position = np.arange(len(groups)) - np.repeat(starts, ends - starts)  # 0-based, in group
    tie_starts, tie_ends = run_starts(groups, scores)
    average_rank = np.repeat((position[tie_starts] + position[tie_ends - 1]) / 2 + 1, tie_ends - tie_starts)
    n_pos = np.add.reduceat(positive, starts)
    n_neg = (ends - starts) - n_pos
    rank_sum = np.add.reduceat(positive * average_rank, starts)
    both = (n_pos > 0) & (n_neg > 0)
    if not both.any():
        return float("nan")
    auc = (rank_sum[both] - n_pos[both] * (n_pos[both] + 1) / 2) / (n_pos[both] * n_neg[both])
    return float((auc * n_pos[both]).sum() / n_pos[both].sum())
