"""Ranking each user's own test items, the protocol of FRAME (SIGIR 2023, Sec. 4.1)
and of the skip-behaviour paper (AAAI 2025, Sec. 5.1).

Each user ranks only the videos she watched in the test period, by predicted score;
a video is relevant when its label is 1 (watched to the end). Precision, Recall, MAP,
NDCG, Hit and MRR at each k of ``topk`` are averaged over the users with at least one
relevant test video (users without one are skipped and counted). AUC and LogLoss are
RecBole's value metrics over all test pairs; GAUC is RecBole's (``recbole.evaluator.
metrics.GAUC``): per-user AUC with tied scores sharing their average rank, weighted by
the user's number of positives, over users with both classes.

Ties (``own_items_ties``). A user's tied items are ordered without reference to row
order: ``random`` by a seeded hash of (``seed``, user, item), the same order for any
permutation of the rows; ``pessimistic`` puts the relevant items (or, for the duration
metrics, the higher watch-time gain) last among ties, a lower bound. The share of
within-user pairs with equal scores is reported as ``tied_pair_share``.

Definitions (``own_items_definition``). ``recbole``: RecBole's metrics. ``authors``:
the evaluation of the skip-behaviour paper's code (DualSkipNet ``utils.py``), which
differs for three metrics, reported under their own keys so that no table mixes them
(``Precision_authors``, ``MAP_authors``, ``NDCG_authors`` in ``own_items_metrics`` ask for
them by name, so one run can report both definitions):

- ``precision_authors@k``: hits in the top k over ``min(k, n)``, n the user's items
  (RecBole: over k);
- ``map_authors@k``: the mean precision at the hits in the top k, over the number of
  those hits (RecBole: over ``min(k, positives)``);
- ``ndcg_authors@k``: the DCG of the top k over the ideal DCG *of the retrieved top k*
  (1 whenever the retrieved hits lead the list; RecBole: over the ideal of
  ``min(k, positives)`` hits).

Recall, Hit, MRR, the skipped users and the value metrics are the same under both.
Duration-debiased metrics (GAIN, DCWTG, DurationGAUC) are in :mod:`.duration`.
"""

from collections import OrderedDict, namedtuple
from logging import getLogger

import numpy as np
from recbole.config.configurator import Config as RecBoleConfig
from recbole.evaluator import metrics as recbole_metrics

from recbole_denoise.evaluator import duration
from recbole_denoise.evaluator.grouping import grouped_auc, run_starts, user_order

RANKING_METRICS = {"precision": "Precision", "recall": "Recall", "map": "MAP", "ndcg": "NDCG",
                   "hit": "Hit", "mrr": "MRR"}
VALUE_METRICS = ("auc", "logloss", "gauc")
TIE_POLICIES = ("random", "pessimistic")
DEFINITIONS = ("recbole", "authors")
AUTHORS_DIFFER = ("precision", "map", "ndcg")  # the metrics whose definitions differ
AUTHORS_METRICS = tuple(f"{key}_authors" for key in AUTHORS_DIFFER)  # asked for by name, beside RecBole's
TIED_PAIR_WARNING = 0.05  # share of tied within-user pairs worth a warning

Ranking = namedtuple("Ranking", "pos_index pos_len n_items skipped")
Ranking.__doc__ = """Each ranked user's top ``max_k`` relevances ``pos_index [n, max_k]``, her
relevant-item count ``pos_len [n]`` and item count ``n_items [n]``, and the number of
users ``skipped`` for having no relevant item."""


def own_items_settings(config):
    """``(ties, definition, seed)`` from the config, each checked."""
    ties = _setting(config, "own_items_ties", "random")
    if ties not in TIE_POLICIES:
        raise ValueError(f"own_items_ties must be one of {list(TIE_POLICIES)}, got {ties!r}")
    definition = _setting(config, "own_items_definition", "recbole")
    if definition not in DEFINITIONS:
        raise ValueError(f"own_items_definition must be one of {list(DEFINITIONS)}, got {definition!r}")
    seed = _setting(config, "seed", None)
    if ties == "random" and not isinstance(seed, (int, np.integer)):
        raise ValueError(f"own_items_ties: random needs an integer config seed, got seed = {seed!r}")
    return ties, definition, seed


def _setting(config, key, default):
    return config[key] if key in config and config[key] is not None else default


def random_tie_keys(users, items, seed):
    """A pseudo-random ``uint64`` per row, a hash of (seed, user, item) (splitmix64), so
    the order among ties depends on the seed and the pairs, not on the row order."""
    key = _mix64(np.full(len(users), seed, dtype=np.uint64) ^ np.uint64(0x9E3779B97F4A7C15))
    key = _mix64(key ^ np.asarray(users, dtype=np.int64).astype(np.uint64))
    return _mix64(key ^ np.asarray(items, dtype=np.int64).astype(np.uint64))


def _mix64(x):
    x = x.astype(np.uint64)
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def rank_own_items(users, scores, labels, max_k, tiebreak=None):
    """:class:`Ranking` of every user's own items by score. Ties are ordered by ascending
    ``tiebreak`` (default: the relevance itself, i.e. pessimistically)."""
    users, scores = np.asarray(users), np.asarray(scores, dtype=float)
    relevant = np.asarray(labels) > 0.5
    order = user_order(users, scores, relevant if tiebreak is None else np.asarray(tiebreak))
    users, relevant = users[order], relevant[order]
    starts, ends = run_starts(users)
    pos_len = np.add.reduceat(relevant.astype(np.int64), starts) if len(users) else np.zeros(0, np.int64)
    ranked = pos_len > 0
    position = np.arange(len(users)) - np.repeat(starts, ends - starts)
    row_of_user = np.cumsum(ranked) - 1  # row in pos_index of each ranked user
    rows = np.repeat(row_of_user, ends - starts)
    keep = np.repeat(ranked, ends - starts) & (position < max_k)
    pos_index = np.zeros((int(ranked.sum()), max_k), dtype=bool)
    pos_index[rows[keep], position[keep]] = relevant[keep]
    return Ranking(pos_index, pos_len[ranked], (ends - starts)[ranked], int((~ranked).sum()))


def tied_pair_share(users, scores):
    """Share of within-user item pairs whose scores are equal."""
    users, scores = np.asarray(users), np.asarray(scores, dtype=float)
    order = np.lexsort((scores, users))
    users, scores = users[order], scores[order]
    user_starts, user_ends = run_starts(users)
    tie_starts, tie_ends = run_starts(users, scores)
    pairs = _pairs(user_ends - user_starts).sum()
    return float(_pairs(tie_ends - tie_starts).sum() / pairs) if pairs else 0.0


def _pairs(sizes):
    return sizes * (sizes - 1) / 2


def authors_metric(key, ranking):
    """Per-user ``[n, max_k]`` values of the authors' Precision, MAP or NDCG at every k
    (DualSkipNet ``utils.py``: ``precision_at_k``, ``average_precision_at_k``,
    ``ndcg_at_k`` over the top-k list)."""
    pos_index = ranking.pos_index.astype(float)
    max_k = pos_index.shape[1]
    ks = np.arange(1, max_k + 1)
    hits = pos_index.cumsum(axis=1)
    if key == "precision":
        return hits / np.minimum(ks[None, :], ranking.n_items[:, None])
    if key == "map":
        precision_at_hits = np.cumsum(pos_index * hits / ks, axis=1)
        return np.divide(precision_at_hits, hits, out=np.zeros_like(hits), where=hits > 0)
    discount = 1.0 / np.log2(ks + 1)
    dcg = np.cumsum(pos_index * discount, axis=1)
    ideal = np.r_[0.0, np.cumsum(discount)][hits.astype(np.int64)]  # the hits moved to the top
    return np.divide(dcg, ideal, out=np.zeros_like(dcg), where=ideal > 0)


def ranking_metric(key, ranking, topk, definition, config):
    """``{name@k: mean over ranked users}`` of one ranking metric."""
    if definition == "authors" and key in AUTHORS_DIFFER:
        per_user, name = authors_metric(key, ranking), f"{key}_authors"
    else:
        metric = getattr(recbole_metrics, RANKING_METRICS[key])(config)
        args = (ranking.pos_index,) if key in ("precision", "hit", "mrr") else (ranking.pos_index, ranking.pos_len)
        per_user, name = metric.metric_info(*args), key
    return {f"{name}@{k}": float(per_user[:, k - 1].mean()) if len(per_user) else 0.0 for k in topk}


def value_metric(key, users, scores, labels, config):
    if key == "gauc":
        return {key: grouped_auc(users, scores, labels)}
    metric = getattr(recbole_metrics, "AUC" if key == "auc" else "LogLoss")(config)
    return {key: float(metric.metric_info(scores, labels))}


def own_items_metrics(users, items, scores, labels, metrics, topk, config, watch=None):
    """Metrics of the own-items protocol as an ``OrderedDict`` like RecBole's, e.g.
    ``{'auc': .., 'ndcg@3': .., 'ndcg@5': ..}``, plus ``users_ranked``,
    ``users_skipped`` and ``tied_pair_share``. ``config`` gives ``own_items_ties``,
    ``own_items_definition`` and ``seed`` and is passed to RecBole's metric classes.
    ``watch`` (:class:`.duration.WatchRows`) is needed by the duration metrics only."""
    # RecBole's metrics use numpy aliases (np.float) that its Config restores
    RecBoleConfig.compatibility_settings(None)
    ties, definition, seed = own_items_settings(config)
    users, items, scores, labels = (np.asarray(a, dtype=float) for a in (users, items, scores, labels))
    topk = sorted(topk)
    relevance = (labels > 0.5).astype(float)
    random_keys = random_tie_keys(users, items, seed) if ties == "random" else None
    ranking = rank_own_items(users, scores, relevance, topk[-1],
                             tiebreak=relevance if random_keys is None else random_keys)
    result = OrderedDict()
    for name in metrics:
        key = name.lower()
        if key in VALUE_METRICS:
            result.update(value_metric(key, users, scores, labels, config))
        elif key in RANKING_METRICS:
            result.update(ranking_metric(key, ranking, topk, definition, config))
        elif key in AUTHORS_METRICS:  # e.g. NDCG_authors: both definitions from one run
            result.update(ranking_metric(key[: -len("_authors")], ranking, topk, "authors", config))
        elif key in duration.DURATION_METRICS:
            result.update(duration.duration_metric(name, users, scores, labels, topk, watch, random_keys))
        else:
            known = (sorted(RANKING_METRICS) + list(AUTHORS_METRICS) + list(VALUE_METRICS)
                     + list(duration.DURATION_METRICS))
            raise ValueError(f"own_items_metrics: unknown metric {name!r} (known, any case: {known})")
    result["users_ranked"] = len(ranking.pos_len)
    result["users_skipped"] = ranking.skipped
    result["tied_pair_share"] = tied_pair_share(users, scores)
    if result["tied_pair_share"] > TIED_PAIR_WARNING:
        getLogger().warning(
            f"own-items evaluation: {result['tied_pair_share']:.1%} of within-user item pairs have equal "
            f"scores; they are ordered by own_items_ties = {ties}, so the ranking metrics partly measure that rule")
    return result
