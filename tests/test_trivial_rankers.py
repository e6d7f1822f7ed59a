"""The trivial watch-time rankers every FRAME / DPSkipNet table carries."""

import pytest
import torch
from recbole.utils import init_seed
from sklearn.metrics import roc_auc_score

from recbole_denoise.config import Config
from recbole_denoise.quick_start import prepare, run_recbole_denoise
from support import prepared

QUIET = {"state": "ERROR", "show_progress": False, "use_gpu": False}


def _model(name, tmp_path, **config):
    model, loaders, _ = prepared(name, "microvideo-sim", tmp_path, **config)
    return model, loaders


def test_item_completion_rate_is_the_smoothed_training_rate(tmp_path):
    model, (train, _, _) = _model("ItemCompletionRate", tmp_path, prior_views=2.0)
    inter = train._dataset.inter_feat
    items, full = inter["item_id"], inter["full_watch"]
    global_rate = full.mean()
    for item in items[:20].tolist():
        mine = items == item
        expected = (full[mine].sum() + 2.0 * global_rate) / (mine.sum() + 2.0)
        assert torch.isclose(model.completion_rate[item], expected)
    unseen = torch.ones(model.n_items, dtype=torch.bool)
    unseen[items] = False
    unseen[0] = False
    if unseen.any():
        assert torch.allclose(model.completion_rate[unseen], global_rate.expand(int(unseen.sum())))


def test_shorter_first_scores_decrease_with_duration(tmp_path):
    model, (_, _, test) = _model("ShorterFirst", tmp_path)
    batch = next(iter(test))[0]
    scores = model.predict(batch)
    order = torch.argsort(batch["duration"])
    assert torch.all(scores[order][1:] <= scores[order][:-1])
    assert torch.all((scores > 0) & (scores < 1))


def _test_result(name, tmp_path, **config):
    return run_recbole_denoise(model=name, dataset="microvideo-sim",
                               config_dict=dict(QUIET, checkpoint_dir=str(tmp_path), **config))["test_result"]


RANDOM_RUN = {"epochs": 1, "train_neg_sample_args": {"distribution": "uniform", "sample_num": 1}}


def test_item_completion_rate_ranks_full_watches_above_random(tmp_path):
    # the simulator's continuation depends on the video's clip topics, so a video's
    # training completion rate predicts its test views (measured AUC 0.62, NDCG@5 0.75
    # against Random's 0.48 and 0.68)
    rate = _test_result("ItemCompletionRate", tmp_path)
    random = _test_result("Random", tmp_path, **RANDOM_RUN)
    assert rate["auc"] > 0.58 > random["auc"]
    assert rate["ndcg@5"] > random["ndcg@5"] + 0.03


def test_shorter_first_auc_is_that_of_ranking_test_views_by_duration(tmp_path):
    model, (_, _, test), trainer = prepared("ShorterFirst", "microvideo-sim", tmp_path)
    result = trainer.evaluate(test, load_best_model=False)
    inter = test._dataset.inter_feat
    expected = roc_auc_score(inter["full_watch"].numpy(), -inter["duration"].numpy())
    assert result["auc"] == pytest.approx(expected, abs=1e-4)
    assert result["users_ranked"] == _users_with_a_full_watch(test)


def _users_with_a_full_watch(split):
    inter = split._dataset.inter_feat
    return len(set(inter["user_id"][inter["full_watch"] > 0].tolist()))


def test_recbole_models_get_the_watch_time_dataset_from_the_data_yaml(tmp_path):
    # microvideo-sim.yaml names dataset_class: WatchTimeDataset, so RecBole's own
    # models see the derived full_watch label and run under the same protocol: every
    # user with a full watch in test is ranked
    _, (_, _, test), _ = prepared("Random", "microvideo-sim", tmp_path, **RANDOM_RUN)
    expected_users = _users_with_a_full_watch(test)
    assert 0 < expected_users < len(set(test._dataset.inter_feat["user_id"].tolist()))
    for name in ("Random", "BPR"):
        assert _test_result(name, tmp_path, **RANDOM_RUN)["users_ranked"] == expected_users


def test_train_keep_trains_a_video_level_baseline_on_full_watches_only(tmp_path):
    config = Config(model="BPR", dataset="microvideo-sim", config_dict=dict(
        QUIET, checkpoint_dir=str(tmp_path), train_keep={"full_watch": 1},
        train_neg_sample_args={"distribution": "uniform", "sample_num": 1}))
    init_seed(config["seed"], True)
    _, (train, valid, test), _, _ = prepare(config)
    assert train._dataset.inter_feat["full_watch"].min() == 1
    assert test._dataset.inter_feat["full_watch"].min() == 0  # test keeps every view


def test_popularity_counts_every_training_interaction_once(tmp_path):
    config = Config(model="Popularity", dataset="ml-100k",
                    config_dict=dict(QUIET, checkpoint_dir=str(tmp_path), train_batch_size=4096))
    init_seed(config["seed"], True)
    _, (train, _, _), model, trainer = prepare(config)
    counts = torch.bincount(train._dataset.inter_feat["item_id"], minlength=model.n_items).float()
    assert torch.allclose(model.popularity, counts / counts.max())
    trainer.fit(train, saved=False)  # the trainer's pass changes nothing (RecBole's Pop would recount)
    assert torch.allclose(model.popularity, counts / counts.max())
    users = torch.tensor([1, 2])
    full = model.full_sort_predict({"user_id": users}).view(2, -1)
    assert torch.equal(full[0], full[1]) and int(full[0].argmax()) == int(counts.argmax())
