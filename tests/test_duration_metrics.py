"""DVR's duration-debiased metrics (watch-time gain, GAIN@k, DCWTG@k) and DurationGAUC."""

import math

import numpy as np
import pytest
from recbole.utils import init_seed

from recbole_denoise.config import Config
from recbole_denoise.evaluator import DurationBuckets, WatchRows, own_items_metrics
from recbole_denoise.quick_start import prepare

CONFIG = {"topk": [1, 2], "metric_decimal_place": 4, "seed": 2020}
# training views: durations in three equal-frequency buckets (< 20, [20, 30), >= 30)
TRAIN_DURATION = [10, 10, 20, 20, 30, 30, 40, 40]
TRAIN_PLAY = [2, 4, 10, 20, 6, 12, 6, 12]  # bucket means 3, 15, 9; std 1, 5, 3


def _buckets():
    return DurationBuckets.fit(TRAIN_DURATION, TRAIN_PLAY, n_buckets=4)


def test_buckets_and_watch_time_gain_come_from_the_training_views():
    buckets = _buckets()
    assert buckets.edges.tolist() == [20, 30]  # the 25% quantile equals the minimum: no empty bucket
    assert buckets.mean.tolist() == [3, 15, 9] and buckets.std.tolist() == [1, 5, 3]
    # durations beyond the training range fall in the first / last bucket
    assert buckets.wtg([5, 15, 3, 10], [12, 25, 100, 5]).tolist() == [2, 0, -2, 7]


# user 1: three views with WTG 2, 0, -2; user 2: two views with WTG 7, 0
USERS = [1, 1, 1, 2, 2]
ITEMS = [1, 2, 3, 1, 2]
PLAY = [5, 15, 3, 10, 15]
DURATION = [12, 25, 100, 5, 25]
LABELS = [1, 0, 0, 1, 0]


def test_gain_and_dcwtg_match_hand_computed_values():
    scores = [.1, .9, .5, .8, .2]  # user 1 ranks WTG 0, -2, 2; user 2 ranks 7, 0
    result = own_items_metrics(USERS, ITEMS, scores, LABELS, ["GAIN", "DCWTG"], [1, 2], CONFIG,
                               watch=WatchRows(np.array(PLAY, float), np.array(DURATION, float), _buckets()))
    assert result["gain@1"] == pytest.approx((0 + 7) / 2)
    assert result["dcwtg@1"] == pytest.approx((0 + 7 / math.log(2)) / 2)
    # at k = 2 only user 1 has more than k views (DVR's filter)
    assert result["gain@2"] == pytest.approx((0 - 2) / 2)
    assert result["dcwtg@2"] == pytest.approx(0 / math.log(2) - 2 / math.log(3))


def test_pessimistic_ties_put_the_higher_gain_last():
    watch = WatchRows(np.array(PLAY, float), np.array(DURATION, float), _buckets())
    config = dict(CONFIG, own_items_ties="pessimistic")
    result = own_items_metrics(USERS, ITEMS, [.5] * 5, LABELS, ["GAIN"], [1], config, watch=watch)
    assert result["gain@1"] == pytest.approx((-2 + 0) / 2)


def test_duration_gauc_compares_views_of_similar_duration_only():
    # bucket 0 (duration 12): positive .2 below negatives .8, .85 -> AUC 0, one positive;
    # bucket 2 (duration 35): positives .9, .7 above negative .1 -> AUC 1, two positives
    users, items = [1] * 6, list(range(6))
    duration = np.array([12, 12, 12, 35, 35, 35], float)
    scores, labels = [.2, .8, .85, .9, .7, .1], [1, 0, 0, 1, 1, 0]
    watch = WatchRows(np.zeros(6), duration, _buckets())
    result = own_items_metrics(users, items, scores, labels, ["GAUC", "DurationGAUC"], [1], CONFIG, watch=watch)
    assert result["durationgauc"] == pytest.approx((0 * 1 + 1 * 2) / 3)
    assert result["gauc"] == pytest.approx(5 / 9)  # across buckets: 5 of 9 pairs right


def test_duration_metrics_without_watch_rows_are_named():
    with pytest.raises(ValueError, match="DCWTG needs the test rows' play_time and duration"):
        own_items_metrics(USERS, ITEMS, [.1] * 5, LABELS, ["DCWTG"], [1], CONFIG)


def test_bucket_count_must_be_positive():
    with pytest.raises(ValueError, match="own_items_duration_buckets: expected a positive integer number of buckets, got 0"):
        DurationBuckets.fit(TRAIN_DURATION, TRAIN_PLAY, n_buckets=0)


def test_trainer_takes_the_buckets_from_the_training_split(tmp_path):
    metrics = ["Recall", "GAIN", "DCWTG", "DurationGAUC"]
    config = Config(model="ShorterFirst", dataset="microvideo-sim", config_dict={
        "state": "ERROR", "show_progress": False, "use_gpu": False, "checkpoint_dir": str(tmp_path),
        "own_items_metrics": metrics, "own_items_duration_buckets": 5})
    init_seed(config["seed"], True)
    _, (train, valid, test), model, trainer = prepare(config)
    trainer.fit(train, valid, saved=False)
    result = trainer.evaluate(test, load_best_model=False)

    def expected(split):
        inter = split._dataset.inter_feat
        buckets = DurationBuckets.fit(inter["duration"].numpy(), inter["play_time"].numpy(), 5)
        rows = test._dataset.inter_feat
        scores = model.predict(rows.to(model.device)).detach().numpy()
        watch = WatchRows(rows["play_time"].numpy(), rows["duration"].numpy(), buckets)
        return own_items_metrics(rows["user_id"].numpy(), rows["item_id"].numpy(), scores,
                                 rows["full_watch"].numpy(), metrics, config["topk"], config, watch=watch)

    assert result == pytest.approx(expected(train))
    assert result["dcwtg@5"] != pytest.approx(expected(test)["dcwtg@5"])  # test-split statistics differ


def _fitted_trainer(tmp_path, **config):
    config = Config(model="ShorterFirst", dataset="microvideo-sim", config_dict=dict({
        "state": "ERROR", "show_progress": False, "use_gpu": False, "checkpoint_dir": str(tmp_path),
        "own_items_metrics": ["Recall", "GAIN"]}, **config))
    init_seed(config["seed"], True)
    _, (train, valid, _), _, trainer = prepare(config)
    trainer.fit(train, valid, saved=False)
    return trainer, train


def test_train_keep_trains_on_a_subset_but_the_buckets_describe_the_whole_training_split(tmp_path):
    whole, _ = _fitted_trainer(tmp_path / "whole")
    kept, kept_train = _fitted_trainer(tmp_path / "kept", train_keep={"full_watch": 1})
    assert len(kept_train._dataset.inter_feat) < len(whole.own_items_train_split.inter_feat)
    assert kept.own_items_train_split.inter_feat["play_time"].tolist() == \
        whole.own_items_train_split.inter_feat["play_time"].tolist()


def test_trainer_names_the_metric_when_the_fields_are_missing(tmp_path):
    config = Config(model="BPR", dataset="ml-100k", config_dict={
        "state": "ERROR", "show_progress": False, "use_gpu": False, "checkpoint_dir": str(tmp_path),
        "threshold": {"rating": 4}, "clean_threshold": None, "own_items_eval": True,
        "eval_args": {"split": {"RS": [0.8, 0.1, 0.1]}, "group_by": "user", "order": "RO", "mode": "labeled"},
        "own_items_metrics": ["NDCG", "DCWTG"]})
    init_seed(config["seed"], True)
    _, (_, _, test), _, trainer = prepare(config)
    with pytest.raises(ValueError, match=r"lack the fields \['play_time', 'duration'\] \(DCWTG needs"):
        trainer.evaluate(test, load_best_model=False)
