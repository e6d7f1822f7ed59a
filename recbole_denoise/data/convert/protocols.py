"""The evaluation protocols that converters write into a dataset's ``<name>.yaml``.

A converted dataset carries its paper's metrics, ``topk`` and ``valid_metric``, so that
it is evaluated as its paper evaluates it under any name, without a config file of the
user's (a user's config still overrides them). One protocol per paper family:

- ADT (Wang et al., WSDM 2021), for the datasets with a noise flag (Yelp, Amazon-book,
  Adressa and anything in their layout): full ranking, Recall and NDCG at the paper's
  cut-offs (:func:`adt_protocol`);
- GRCN (Wei et al., ACM MM 2020), for multimodal datasets: full ranking, Precision,
  Recall and NDCG at 10 (:data:`GRCN_PROTOCOL`);
- FRAME (SIGIR 2023) and DPSkipNet (AAAI 2025), for watch-time logs: each user ranks
  her own test views (:func:`watch_protocol`).
"""

from typing import Dict, Optional, Sequence

# RecBole's own default, written out so that no model yaml can change the protocol:
# per-user random 8:1:1 split (ignored for pre-split benchmark files), full ranking.
FULL_RANKING = {"split": {"RS": [0.8, 0.1, 0.1]}, "group_by": "user", "order": "RO", "mode": "full"}

# ADT, Section 5 "Evaluation Protocols": Recall@K and NDCG@K, K = 50, 100 on Yelp and
# Amazon-book, K = 3, 20 on Adressa (a small item space).
ADT_TOPK = {"yelp": (50, 100), "amazon_book": (50, 100), "adressa": (3, 20)}
ADT_DEFAULT_TOPK = ADT_TOPK["yelp"]  # datasets of another name: the rated-review cut-offs


def adt_protocol(topk: Sequence[int] = ADT_DEFAULT_TOPK, valid_k: Optional[int] = None) -> Dict:
    """The ADT protocol at cut-offs ``topk``, validated on Recall at ``valid_k``
    (default: the first cut-off; Adressa validates on @20, since @3 of a few test
    items per user is too coarse to select checkpoints on)."""
    topk = [int(k) for k in topk]
    return {"eval_args": dict(FULL_RANKING), "metrics": ["Recall", "NDCG"], "topk": topk,
            "valid_metric": f"Recall@{valid_k or topk[0]}"}


def adt_protocol_for(dataset: str) -> Dict:
    """The ADT protocol of one of the paper's datasets (yelp, amazon_book, adressa), or
    the Yelp / Amazon-book one for any other name."""
    key = dataset.lower().replace("-", "_")
    if key == "adressa":
        return adt_protocol(ADT_TOPK[key], valid_k=20)
    return adt_protocol(ADT_TOPK.get(key, ADT_DEFAULT_TOPK))


# GRCN, Section 4.1: full ranking of all items, Precision / Recall / NDCG at 10; the
# authors stop after 20 epochs without a Recall@10 gain.
GRCN_PROTOCOL = {"eval_args": FULL_RANKING, "metrics": ["Recall", "NDCG", "Precision"], "topk": [10],
                 "valid_metric": "Recall@10"}


def grcn_protocol() -> Dict:
    """A fresh copy of :data:`GRCN_PROTOCOL`."""
    return {**GRCN_PROTOCOL, "eval_args": dict(FULL_RANKING)}


def watch_protocol(has_time: bool, hidden: Sequence[str] = ()) -> Dict:
    """The evaluation protocol of FRAME (SIGIR 2023) and DPSkipNet (AAAI 2025), as plain config.

    - ``dataset_class``: ``WatchTimeDataset``, so that any model, RecBole's included,
      gets the derived ``full_watch`` label;
    - ``eval_args``: each user's views split 6:2:2 (DPSkipNet "randomly sampled at a 6:2:2
      ratio for each user"; here in time order when timestamps exist, else random;
      ignored for pre-split files), ``mode: labeled``: every test view is scored, none
      is sampled;
    - ``own_items_eval``: each user ranks only her own test videos (both papers);
    - ``LABEL_FIELD: full_watch``: relevant = fully watched (derived at load by
      ``WatchTimeDataset``);
    - ``own_items_metrics``: AUC, GAUC, LogLoss (FRAME) and Precision, Recall, MAP,
      NDCG at 3 and 5, early stopping on Recall@3 (DPSkipNet); RecBole's own
      ``metrics`` list keeps the value metrics only, since it refuses a mix;
    - ``ground_truth_fields``: play time and ``hidden`` (fields derived from it) are
      never model features.
    """
    return {
        "dataset_class": "WatchTimeDataset",  # derives the labels below for any model
        "eval_args": {"split": {"RS": [0.6, 0.2, 0.2]}, "group_by": "user", "order": "TO" if has_time else "RO",
                      "mode": "labeled"},
        "own_items_eval": True,
        "LABEL_FIELD": "full_watch",
        "metrics": ["AUC", "LogLoss"],
        "own_items_metrics": ["AUC", "GAUC", "LogLoss", "Precision", "Recall", "MAP", "NDCG"],
        "topk": [3, 5],
        "valid_metric": "Recall@3",
        "ground_truth_fields": ["play_time", *hidden],
    }


# DUMN (Bian et al., RecSys 2021) and its feedback datasets: AUC of the sample's label
# (the paper's only metric, LogLoss beside it), every sample scored (``mode: labeled``).
FEEDBACK_METRICS = ["AUC", "LogLoss"]
# Per-user time split of the feedback converters without a dated test day: the last 20%
# of each user's rows are test (the kuairand-likehate protocol), the 10% before them
# validation. RecBole 1.2.1 keeps a 0 share empty (``_calcu_split_ids``), and an empty
# validation set cannot select a checkpoint, so validation is never 0.
FEEDBACK_SPLIT = [0.7, 0.1, 0.2]


def feedback_protocol(*, feedback_fields: Dict[str, Optional[str]], feedback_events: Optional[str],
                      history_item_fields: Sequence[str], split: Optional[Sequence[float]] = None,
                      history_length: int = 100, notes: Optional[Dict[str, str]] = None) -> Dict:
    """The dataset yaml of a feedback dataset (the DUMN data contract).

    - ``dataset_class: FeedbackHistoryDataset``, which builds the click / unclick / like /
      dislike histories from ``feedback_fields`` (``.inter`` columns; ``None``: the kind is
      absent) and the optional ``<name>.<feedback_events>`` file;
    - ``eval_args``: ``split`` (RS ratios) per user in time order, or, with ``split=None``,
      the pre-split files of ``benchmark_filename`` (RecBole then ignores ``split``);
      ``mode: labeled``: every sample is scored;
    - ``notes``: where each kind comes from (and why a kind is absent), for the reader of
      the yaml; RecBole ignores the key.
    """
    eval_args = {"order": "TO", "mode": "labeled"}
    if split is not None:
        eval_args = {"split": {"RS": [float(share) for share in split]}, "group_by": "user", **eval_args}
    config = {
        "dataset_class": "FeedbackHistoryDataset",
        "LABEL_FIELD": "label",
        "feedback_fields": dict(feedback_fields),
        "feedback_events": feedback_events,
        "history_item_fields": list(history_item_fields),
        "history_length": int(history_length),
        "eval_args": eval_args,
        "metrics": list(FEEDBACK_METRICS),
        "valid_metric": "AUC",
        "numerical_features": [],
    }
    if notes:
        config["feedback_notes"] = dict(notes)
    return config
