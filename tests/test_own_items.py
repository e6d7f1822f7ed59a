"""The own-items protocol against hand-computed values, and through a trainer."""

import logging
import math

import numpy as np
import pytest
from recbole.config.configurator import Config as RecBoleConfig
from recbole.evaluator.metrics import GAUC

from recbole_denoise.evaluator import own_items_metrics, rank_own_items
from recbole_denoise.evaluator.grouping import grouped_auc
from recbole_denoise.evaluator.own_items import tied_pair_share
from recbole_denoise.quick_start import run_recbole_denoise

USERS = [1, 1, 1, 1, 2, 2, 2, 3, 3]
ITEMS = [1, 2, 3, 4, 1, 2, 5, 6, 7]
SCORES = [.9, .8, .3, .1, .2, .7, .6, .5, .4]
LABELS = [1, 0, 1, 0, 0, 0, 1, 0, 0]
CONFIG = {"topk": [1, 3], "metric_decimal_place": 4, "seed": 2020}


def test_each_user_ranks_her_own_items():
    ranking = rank_own_items(USERS, SCORES, LABELS, 3)
    # user 1: .9 (1), .8 (0), .3 (1); user 2: .7 (0), .6 (1), .2 (0); user 3 has no positive
    assert ranking.pos_index.tolist() == [[True, False, True], [False, True, False]]
    assert ranking.pos_len.tolist() == [2, 1] and ranking.n_items.tolist() == [4, 3] and ranking.skipped == 1


def test_metrics_match_hand_computed_values():
    result = own_items_metrics(USERS, ITEMS, SCORES, LABELS,
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
    # RecBole's GAUC: user AUCs .75 and .5 weighted by positives (2 and 1); user 3 has one class
    assert result["gauc"] == pytest.approx((0.75 * 2 + 0.5 * 1) / 3)
    p, y = np.array(SCORES), np.array(LABELS)
    assert result["logloss"] == pytest.approx(float(np.mean(-y * np.log(p) - (1 - y) * np.log(1 - p))), abs=1e-6)
    assert result["tied_pair_share"] == 0.0


def test_gauc_is_recboles_with_ties_and_one_class_users():
    users = [1, 1, 1, 1, 2, 2, 3, 3, 4]
    scores = [.5, .5, .2, .9, .3, .3, .1, .4, .7]
    labels = [1, 0, 1, 0, 1, 0, 1, 1, 0]
    # descending average ranks of the positives: user 1 (.9, .5/.5, .2) 2.5 + 4; user 2 1.5;
    # user 3 (only positives) 1 + 2; user 4 (only a negative) none
    RecBoleConfig.compatibility_settings(None)
    recbole = GAUC({"metric_decimal_place": 4}).metric_info(
        np.array([[6.5], [1.5], [3.0], [0.0]]), np.array([4, 2, 2, 1]), np.array([2, 1, 2, 0]))
    ours = grouped_auc(users, scores, labels)
    assert ours == pytest.approx(recbole)
    assert ours == pytest.approx((0.5 / 4 * 2 + 0.5 * 1) / 3)  # tie counts half: user 1 AUC 1/8


def test_ties_do_not_depend_on_row_order():
    rng = np.random.default_rng(0)
    users = np.repeat(np.arange(1, 41), 6)
    items = np.tile(np.arange(1, 7), 40) + users
    labels = (rng.random(len(users)) < 0.4).astype(float)
    scores = np.full(len(users), 0.5)  # a constant scorer: every pair tied
    metrics = ["Precision", "Recall", "MAP", "NDCG", "Hit", "MRR", "GAUC"]
    for ties in ("random", "pessimistic"):
        config = dict(CONFIG, topk=[3], own_items_ties=ties)
        first = own_items_metrics(users, items, scores, labels, metrics, [3], config)
        for _ in range(3):
            perm = rng.permutation(len(users))
            again = own_items_metrics(users[perm], items[perm], scores[perm], labels[perm], metrics, [3], config)
            assert again == pytest.approx(first)
        assert first["tied_pair_share"] == 1.0


def test_pessimistic_ties_put_relevant_items_last():
    config = dict(CONFIG, own_items_ties="pessimistic")
    result = own_items_metrics([1, 1, 1], [7, 8, 9], [.5, .5, .5], [1, 0, 0], ["Hit", "NDCG"], [1, 3], config)
    assert result["hit@1"] == 0.0 and result["ndcg@3"] == pytest.approx(1 / math.log2(4))


def test_random_ties_score_like_a_random_order_and_follow_the_seed():
    users = np.repeat(np.arange(3000), 4)
    items = np.tile(np.arange(4), 3000)
    labels = np.tile([1.0, 0, 0, 0], 3000)  # one relevant item of four
    scores = np.zeros(len(users))
    hits = {seed: own_items_metrics(users, items, scores, labels, ["Hit"], [1], dict(CONFIG, seed=seed))["hit@1"]
            for seed in (1, 2)}
    assert all(abs(hit - 0.25) < 0.03 for hit in hits.values())  # E[hit@1] of a random order
    assert hits[1] != hits[2]


def test_tied_pair_share_and_its_warning(caplog):
    assert tied_pair_share([1, 1, 1, 2, 2], [.5, .5, .3, .2, .2]) == pytest.approx(2 / 4)
    with caplog.at_level(logging.WARNING):
        result = own_items_metrics([1, 1, 1, 2, 2], [1, 2, 3, 1, 2], [.5, .5, .3, .2, .2], [1, 0, 0, 1, 0],
                                   ["NDCG"], [1], CONFIG)
    assert result["tied_pair_share"] == pytest.approx(0.5)
    assert "50.0% of within-user item pairs have equal scores" in caplog.text


SIX = {"users": [1] * 6, "items": list(range(6)), "scores": [6, 5, 4, 3, 2, 1], "labels": [1, 0, 0, 0, 0, 1]}


def test_authors_metrics_by_name_beside_recboles_in_one_run():
    both = own_items_metrics(*SIX.values(), ["NDCG", "NDCG_authors", "MAP_authors"], [5], CONFIG)
    alone = own_items_metrics(*SIX.values(), ["NDCG", "MAP"], [5], dict(CONFIG, own_items_definition="authors"))
    assert both["ndcg@5"] == pytest.approx(0.6131, abs=1e-4)
    assert both["ndcg_authors@5"] == alone["ndcg_authors@5"] == pytest.approx(1.0)
    assert both["map_authors@5"] == alone["map_authors@5"] == pytest.approx(1.0)


def test_authors_definition_on_six_items_relevant_at_ranks_one_and_six():
    metrics = ["Precision", "Recall", "MAP", "NDCG"]
    recbole = own_items_metrics(*SIX.values(), metrics, [5], CONFIG)
    authors = own_items_metrics(*SIX.values(), metrics, [5], dict(CONFIG, own_items_definition="authors"))
    assert recbole["ndcg@5"] == pytest.approx(1 / (1 + 1 / math.log2(3)))  # 0.613
    assert authors["ndcg_authors@5"] == pytest.approx(1.0)  # ideal DCG of the retrieved top 5
    assert recbole["map@5"] == pytest.approx(1 / 2) and authors["map_authors@5"] == pytest.approx(1.0)
    assert recbole["recall@5"] == authors["recall@5"] == pytest.approx(1 / 2)  # same definition
    assert "ndcg@5" not in authors and "ndcg_authors@5" not in recbole  # never mixed under one key


def test_precision_of_a_user_with_fewer_than_k_items():
    args = ([1, 1, 1], [1, 2, 3], [.9, .5, .1], [1, 0, 0], ["Precision"], [5])
    assert own_items_metrics(*args, CONFIG)["precision@5"] == pytest.approx(1 / 5)
    assert own_items_metrics(*args, dict(CONFIG, own_items_definition="authors"))[
        "precision_authors@5"] == pytest.approx(1 / 3)


@pytest.mark.parametrize("key, value", [("own_items_ties", "optimistic"), ("own_items_definition", "paper")])
def test_unknown_settings_are_named(key, value):
    with pytest.raises(ValueError, match=f"{key} must be one of .* got '{value}'"):
        own_items_metrics(USERS, ITEMS, SCORES, LABELS, ["NDCG"], [3], dict(CONFIG, **{key: value}))


def test_unknown_metric_is_named():
    with pytest.raises(ValueError, match="'Coverage'"):
        own_items_metrics(USERS, ITEMS, SCORES, LABELS, ["Coverage"], [3], CONFIG)


ML100K = {"state": "ERROR", "show_progress": False, "use_gpu": False, "epochs": 1,
          "threshold": {"rating": 4}, "clean_threshold": None,
          "eval_args": {"split": {"RS": [0.8, 0.1, 0.1]}, "group_by": "user", "order": "RO", "mode": "labeled"},
          "train_neg_sample_args": {"distribution": "uniform", "sample_num": 1},
          "own_items_eval": True, "metrics": ["AUC", "LogLoss"], "topk": [3, 5], "valid_metric": "ndcg@5"}


def test_trainer_uses_the_protocol_for_recbole_models(tmp_path):
    # ml-100k with label = rating >= 4; each user ranks her own rated test movies
    result = run_recbole_denoise(model="BPR", dataset="ml-100k", config_dict=dict(
        ML100K, checkpoint_dir=str(tmp_path), own_items_metrics=["AUC", "Precision", "NDCG"]))
    test = result["test_result"]
    assert set(test) == {"auc", "precision@3", "precision@5", "ndcg@3", "ndcg@5", "users_ranked", "users_skipped",
                         "tied_pair_share"}
    assert 0.0 < test["ndcg@5"] <= 1.0 and test["users_ranked"] > 500


def test_trainer_names_a_valid_metric_the_definition_renamed(tmp_path):
    with pytest.raises(ValueError, match="valid_metric 'ndcg@5' is not among .*ndcg_authors@5"):
        run_recbole_denoise(model="BPR", dataset="ml-100k", config_dict=dict(
            ML100K, checkpoint_dir=str(tmp_path), own_items_metrics=["NDCG"], own_items_definition="authors"))


def test_protocol_refuses_full_ranking(tmp_path):
    with pytest.raises(ValueError, match="own_items_eval needs eval_args mode: labeled"):
        run_recbole_denoise(model="BPR", dataset="ml-100k", config_dict={
            "state": "ERROR", "show_progress": False, "use_gpu": False, "epochs": 1,
            "checkpoint_dir": str(tmp_path), "own_items_eval": True})


def test_no_rows_give_no_ranked_users():
    result = own_items_metrics([], [], [], [], ["NDCG", "GAUC"], [3], CONFIG)
    assert result["users_ranked"] == 0 and result["ndcg@3"] == 0.0 and math.isnan(result["gauc"])
