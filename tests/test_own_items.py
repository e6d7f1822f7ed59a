"""The own-items protocol against hand-computed values, and through a trainer."""

import math

import numpy as np
import pytest

from recbole_denoise.evaluator import own_items_metrics, rank_own_items
from recbole_denoise.quick_start import run_recbole_denoise

USERS = [1, 1, 1, 1, 2, 2, 2, 3, 3]
SCORES = [.9, .8, .3, .1, .2, .7, .6, .5, .4]
LABELS = [1, 0, 1, 0, 0, 0, 1, 0, 0]
CONFIG = {"topk": [1, 3], "metric_decimal_place": 4}


def test_each_user_ranks_her_own_items():
    pos_index, pos_len, skipped = rank_own_items(USERS, SCORES, LABELS, 3)
    # user 1: .9 (1), .8 (0), .3 (1); user 2: .7 (0), .6 (1), .2 (0); user 3 has no positive
    assert pos_index.tolist() == [[True, False, True], [False, True, False]]
    assert pos_len.tolist() == [2, 1] and skipped == 1


def test_metrics_match_hand_computed_values():
    result = own_items_metrics(USERS, SCORES, LABELS,
                               ["AUC", "GAUC", "LogLoss", "Precision", "Recall", "MAP", "NDCG"], [1, 3], CONFIG)
    assert result["users_ranked"] == 2 and result["users_skipped"] == 1
    assert result["recall@1"] == pytest.approx((1 / 2 + 0) / 2)
    assert result["recall@3"] == pytest.approx(1.0)
    assert result["precision@3"] == pytest.approx((2 / 3 + 1 / 3) / 2)
    ndcg_user1 = (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    ndcg_user2 = (1 / math.log2(3)) / 1
    assert result["ndcg@3"] == pytest.approx((ndcg_user1 + ndcg_user2) / 2, abs=1e-6)
    assert result["map@3"] == pytest.approx(((1 + 2 / 3) / 2 + 1 / 2) / 2)
    assert result["auc"] == pytest.approx(12 / 18)  # positive-negative pairs ranked right
    assert result["gauc"] == pytest.approx((0.75 * 4 + 0.5 * 3) / 7)  # user 3 has one class
    p, y = np.array(SCORES), np.array(LABELS)
    assert result["logloss"] == pytest.approx(float(np.mean(-y * np.log(p) - (1 - y) * np.log(1 - p))), abs=1e-6)


def test_unknown_metric_is_named():
    with pytest.raises(ValueError, match="'Coverage'"):
        own_items_metrics(USERS, SCORES, LABELS, ["Coverage"], [3], CONFIG)


def test_trainer_uses_the_protocol_for_recbole_models(tmp_path):
    # ml-100k with label = rating >= 4; each user ranks her own rated test movies
    result = run_recbole_denoise(model="BPR", dataset="ml-100k", config_dict={
        "state": "ERROR", "show_progress": False, "use_gpu": False, "epochs": 1,
        "checkpoint_dir": str(tmp_path), "threshold": {"rating": 4}, "clean_threshold": None,
        "eval_args": {"split": {"RS": [0.8, 0.1, 0.1]}, "group_by": "user", "order": "RO", "mode": "labeled"},
        "train_neg_sample_args": {"distribution": "uniform", "sample_num": 1},
        "own_items_eval": True, "metrics": ["AUC", "LogLoss"], "topk": [3, 5], "valid_metric": "ndcg@5",
        "own_items_metrics": ["AUC", "Precision", "NDCG"]})
    test = result["test_result"]
    assert set(test) == {"auc", "precision@3", "precision@5", "ndcg@3", "ndcg@5", "users_ranked", "users_skipped"}
    assert 0.0 < test["ndcg@5"] <= 1.0 and test["users_ranked"] > 500


def test_protocol_refuses_full_ranking(tmp_path):
    with pytest.raises(ValueError, match="own_items_eval needs eval_args mode: labeled"):
        run_recbole_denoise(model="BPR", dataset="ml-100k", config_dict={
            "state": "ERROR", "show_progress": False, "use_gpu": False, "epochs": 1,
            "checkpoint_dir": str(tmp_path), "own_items_eval": True})
