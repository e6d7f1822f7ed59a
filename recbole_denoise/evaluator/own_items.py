"""Ranking each user's own test items, the protocol of FRAME (SIGIR 2023, Sec. 4.1)
and of the skip-behaviour paper (AAAI 2025, Sec. 5.1).

Each user ranks only the videos she watched in the test period, by predicted score;
a video is relevant when its label is 1 (watched to the end). Ranking metrics use
RecBole's own definitions (``recbole.evaluator.metrics``): Precision, Recall, MAP,
NDCG, Hit, MRR at each k of ``topk``, averaged over the users with at least one
relevant test video (users without one are skipped and counted). AUC and LogLoss are
RecBole's value metrics over all test pairs; GAUC averages per-user AUC weighted by
the user's test-pair count over users with both classes.
"""

from collections import OrderedDict

import numpy as np
from recbole.config.configurator import Config as RecBoleConfig
from recbole.evaluator import metrics as recbole_metrics

RANKING_METRICS = {"precision": "Precision", "recall": "Recall", "map": "MAP", "ndcg": "NDCG",
                   "hit": "Hit", "mrr": "MRR"}
VALUE_METRICS = ("auc", "logloss", "gauc")


def rank_own_items(users, scores, labels, max_k):
    """``pos_index`` ``[n, max_k]`` (relevance of each user's top items, by score) and
    ``pos_len`` ``[n]`` (relevant items per user) for the ``n`` users with a relevant
    item; and the number of users skipped for having none. Ties keep input order."""
    users, scores, labels = (np.asarray(a) for a in (users, scores, labels))
    order = np.lexsort((-scores, users))  # by user, then by descending score (stable)
    users, labels = users[order], labels[order] > 0.5
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    ends = np.r_[starts[1:], len(users)]
    pos_index, pos_len, skipped = [], [], 0
    for start, end in zip(starts, ends):
        relevant = labels[start:end]
        if not relevant.any():
            skipped += 1
            continue
        row = np.zeros(max_k, dtype=bool)
        top = relevant[:max_k]
        row[: len(top)] = top
        pos_index.append(row)
        pos_len.append(int(relevant.sum()))
    return np.array(pos_index).reshape(-1, max_k), np.array(pos_len, dtype=np.int64), skipped


def _gauc(users, scores, labels):
    """Mean per-user AUC, weighted by test pairs, over users with both classes."""
    total, weight = 0.0, 0
    for user in np.unique(users):
        mask = users == user
        user_labels = labels[mask] > 0.5
        if user_labels.all() or not user_labels.any():
            continue
        ranks = _average_ranks(scores[mask])
        n_pos, n_neg = user_labels.sum(), (~user_labels).sum()
        auc = (ranks[user_labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
        total += auc * mask.sum()
        weight += mask.sum()
    return total / weight if weight else float("nan")


def _average_ranks(values):
    """1-based ranks with ties sharing their average rank."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values))
    sorted_values = values[order]
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    ends = np.r_[starts[1:], len(values)]
    for start, end in zip(starts, ends):
        ranks[order[start:end]] = (start + end + 1) / 2
    return ranks


def own_items_metrics(users, scores, labels, metrics, topk, config):
    """Metrics of the own-items protocol as an ``OrderedDict`` like RecBole's, e.g.
    ``{'auc': .., 'ndcg@3': .., 'ndcg@5': ..}``, plus ``users_ranked`` and
    ``users_skipped``. ``config`` is passed to RecBole's metric classes."""
    # RecBole's metrics use numpy aliases (np.float) that its Config restores
    RecBoleConfig.compatibility_settings(None)
    users, scores, labels = (np.asarray(a, dtype=float) for a in (users, scores, labels))
    topk = sorted(topk)
    result = OrderedDict()
    pos_index, pos_len, skipped = rank_own_items(users, scores, labels, topk[-1])
    for name in metrics:
        key = name.lower()
        if key in ("auc", "logloss"):
            metric = getattr(recbole_metrics, "AUC" if key == "auc" else "LogLoss")(config)
            result[key] = float(metric.metric_info(scores, labels))
        elif key == "gauc":
            result[key] = float(_gauc(users, scores, labels))
        elif key in RANKING_METRICS:
            metric = getattr(recbole_metrics, RANKING_METRICS[key])(config)
            args = (pos_index,) if key in ("precision", "hit", "mrr") else (pos_index, pos_len)
            per_user = metric.metric_info(*args)
            for k in topk:
                result[f"{key}@{k}"] = float(per_user[:, k - 1].mean()) if len(per_user) else 0.0
        else:
            raise ValueError(f"own_items_metrics: unknown metric {name!r} "
                             f"(known: {sorted(RANKING_METRICS) + list(VALUE_METRICS)})")
    result["users_ranked"] = len(pos_len)
    result["users_skipped"] = skipped
    return result
