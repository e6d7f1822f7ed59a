"""DPSkipNet on the bundled micro-video simulation: propagation and scores against dense
matrices, video features, triples and unseen negatives, the combined loss, duration
buckets, ablations."""

import logging

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from recbole_denoise.data.watch_time import HIGHLY_POSITIVE, LESS_POSITIVE, NEGATIVE
from recbole_denoise.quick_start import run_recbole_denoise
from support import QUIET, prepared


def _model(tmp_path, **config):
    return prepared("DPSkipNet", "microvideo-sim", tmp_path, **config)


@pytest.fixture(scope="module")
def dpskipnet(tmp_path_factory):
    return _model(tmp_path_factory.mktemp("dpskipnet"))


@pytest.fixture(scope="module")
def duration_aware(tmp_path_factory):
    return _model(tmp_path_factory.mktemp("duration"), duration_aware=True, duration_buckets=5)


def _normalised_dense(users, items, n_users, n_items):
    """LightGCN's D_u^-1/2 A D_v^-1/2 of the views (users[i], items[i]), dense (tiny data only)."""
    a = torch.zeros(n_users, n_items)
    a[users, items] = 1.0
    return a / a.sum(1, keepdim=True).clamp(min=1).sqrt() / a.sum(0, keepdim=True).clamp(min=1).sqrt()


def _training_pairs(dataset):
    return set(zip(dataset.inter_feat["user_id"].tolist(), dataset.inter_feat["item_id"].tolist()))


def _first_batch(loader):
    batch = next(iter(loader))
    return batch["user_id"], batch["item_id"], batch["skip_level"].long(), batch


# ---------------------------------------------------------------------- representations


def test_forward_and_scores_follow_the_paper_with_dense_matrices(dpskipnet):
    model, (train, _, _), _ = dpskipnet
    levels = train.dataset.inter_feat["skip_level"].long()
    pairs = torch.stack([train.dataset.inter_feat["user_id"], train.dataset.inter_feat["item_id"]]).long()
    users, items = torch.tensor([1, 7, 42]), torch.tensor([5, 5, 640])
    with torch.no_grad():
        h0 = model.video_feature @ model.video_projection.weight.T  # H_v^(0) = X_v W_x
        want_users, want_videos = [], []
        for level, user_w, video_w in zip((HIGHLY_POSITIVE, LESS_POSITIVE), model.user_weights, model.video_weights):
            chosen = pairs[:, levels == level]
            r = _normalised_dense(chosen[0], chosen[1], model.n_users, model.n_items)  # R~ from the training rows
            user_h = torch.relu(r @ h0 @ user_w.weight.T)  # H_u = s(R~ H_v^(0) W^(1))
            want_users.append(user_h)
            want_videos.append(torch.relu(r.T @ user_h @ video_w.weight.T))  # H_v = s(R~^T H_u W^(2))
        user_e, video_e = (want_users[0] + want_users[1]) / 2, (want_videos[0] + want_videos[1]) / 2  # mean
        first, _, last = model.predictor
        hidden = torch.relu(torch.cat([user_e[users], video_e[items]], -1) @ first.weight.T + first.bias)
        want = torch.sigmoid(hidden @ last.weight.T + last.bias).squeeze(-1)  # W2 s(W1 [h_u, h_v])

        got_users, got_videos = model.forward()
        model.restore_user_e = model.restore_item_e = None
        predicted = model.predict({"user_id": users, "item_id": items})
        full = model.full_sort_predict({"user_id": users}).view(len(users), model.n_items)
    assert torch.allclose(got_users, user_e, atol=1e-5) and torch.allclose(got_videos, video_e, atol=1e-5)
    assert torch.allclose(predicted, want, atol=1e-6)
    assert torch.allclose(full[torch.arange(3), items], want, atol=1e-6)


def test_video_features_are_the_datasets_visual_rows_and_stay_out_of_checkpoints(dpskipnet):
    model, (train, _, _), _ = dpskipnet
    assert torch.equal(model.video_feature, train.dataset.item_features["visual"])
    assert not hasattr(model, "video_embedding")
    assert "video_feature" not in model.state_dict() and "video_projection.weight" in model.state_dict()


def test_changing_the_video_features_changes_the_scores(tmp_path):
    model = _model(tmp_path)[0]
    users, items = torch.tensor([1, 7, 42, 100]), torch.tensor([3, 50, 300, 999])
    with torch.no_grad():
        before = model.predict({"user_id": users, "item_id": items})
        model.video_feature.copy_(model.video_feature.flip(0))  # every video gets another's features
        model.restore_user_e = model.restore_item_e = None
        after = model.predict({"user_id": users, "item_id": items})
    assert (before - after).abs().min() > 1e-4


def test_no_video_features_means_a_learned_embedding_with_a_warning(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        model = _model(tmp_path, item_modalities=None)[0]  # a dataset without features, as KuaiRand
    assert model.video_embedding.weight.shape == (model.n_items, 128) and not hasattr(model, "video_feature")
    warnings = [r for r in caplog.records if "video_features = auto" in r.getMessage()]
    assert warnings and all(r.levelno == logging.WARNING for r in warnings)
    explicit = _model(tmp_path, video_features="none")[0]
    assert hasattr(explicit, "video_embedding") and not hasattr(explicit, "video_feature")


def test_asking_for_missing_video_features_is_an_error_naming_the_key(tmp_path):
    with pytest.raises(ValueError, match=r"video_features = 'visual'.*has no such item modality"):
        _model(tmp_path, item_modalities=None, video_features="visual")


@pytest.mark.parametrize("key, value", [("graphs", "triple"), ("bpr_negatives", "random"),
                                        ("duration_aware", "yes")])
def test_unknown_settings_are_errors_naming_key_and_value(tmp_path, key, value):
    # the config's setting check names them before the model is built
    with pytest.raises(ValueError, match=f"{key} must be .*, got '{value}'"):
        _model(tmp_path, **{key: value})


# ---------------------------------------------------------------------- triples and loss


def test_triples_hold_the_rows_video_and_same_user_samples_of_other_levels(dpskipnet):
    model, (train, _, _), _ = dpskipnet
    users, items, levels, _ = _first_batch(train)
    (high, less, negative), (has_high, has_less, has_negative) = model.bpr_triples(users, items, levels)
    views = {level: set(zip(g.rows.tolist(), g.cols.tolist())) for level, g in enumerate(model.level_graphs)}
    for slot, level, has in ((high, HIGHLY_POSITIVE, has_high), (less, LESS_POSITIVE, has_less),
                             (negative, NEGATIVE, has_negative)):
        own = levels == level
        assert torch.equal(slot[own], items[own])  # the row's own video sits at its level
        for user, video, present in zip(users.tolist(), slot.tolist(), has.tolist()):
            if present:  # every sampled video is a training view of that user at that level
                assert (user, video) in views[level]


def test_unseen_negatives_are_never_videos_the_user_viewed_in_training(tmp_path):
    model, (train, _, _), _ = _model(tmp_path, bpr_negatives="unseen")
    seen = _training_pairs(train.dataset)
    users, items, levels, _ = _first_batch(train)
    drawn = []
    for _ in range(20):  # ~1.5% of random draws hit a training view: uniform draws would hit ~300
        (_, _, negative), (_, _, has_negative) = model.bpr_triples(users, items, levels)
        assert has_negative.all() and (negative >= 1).all() and (negative < model.n_items).all()
        drawn += list(zip(users.tolist(), negative.tolist()))
    assert not set(drawn) & seen
    assert len({video for _, video in drawn}) > 0.9 * (model.n_items - 1)  # spread over the catalogue


def test_unseen_sampler_finds_the_last_unseen_video_and_skips_users_without_one(tmp_path):
    model = _model(tmp_path, bpr_negatives="unseen")[0]
    n = model.n_items
    everything_but_7 = [v for v in range(1, n) if v != 7]
    keys = sorted([1 * n + v for v in everything_but_7] + [2 * n + v for v in range(1, n)])
    model.view_keys = torch.tensor(keys)
    model.views_per_user = torch.zeros(model.n_users, dtype=torch.long)
    model.views_per_user[1], model.views_per_user[2] = n - 2, n - 1
    videos, has = model.sample_unseen(torch.tensor([1, 1, 1, 2, 3]))
    assert videos[:3].tolist() == [7, 7, 7] and has.tolist() == [True, True, True, False, True]
    assert 1 <= videos[4] < n


def test_combined_loss_is_the_papers_weighted_bpr_and_bce(dpskipnet):
    model, (train, _, _), _ = dpskipnet
    users, items, levels, batch = _first_batch(train)
    triples = model.bpr_triples(users, items, levels)
    (high, less, negative), (has_high, has_less, has_negative) = triples
    with torch.no_grad():
        loss = model.combined_loss(batch, triples)
        user_e, video_e = model.forward()

        def z(videos):
            return torch.logit(model.predict({"user_id": users, "item_id": videos}).double())

        model.restore_user_e, model.restore_item_e = user_e, video_e
        labels = batch["full_watch"].double()
        bce = F.binary_cross_entropy_with_logits(z(items), labels)
        both_less, both_negative = has_high & has_less, has_high & has_negative
        bpr_less = -F.logsigmoid(z(high) - z(less))[both_less].mean()
        bpr_negative = -F.logsigmoid(z(high) - z(negative))[both_negative].mean()
    assert both_less.any() and both_negative.any()
    want = 0.5 * (bpr_less + bpr_negative) / 2 + 0.5 * bce  # lambda = 0.5
    assert loss.item() == pytest.approx(want.item(), rel=1e-4)


def test_training_lowers_the_loss_on_the_same_triples(tmp_path):
    model, (train, valid, _), trainer = _model(tmp_path, epochs=3)
    users, items, levels, batch = _first_batch(train)
    triples = model.bpr_triples(users, items, levels)
    with torch.no_grad():
        before = model.combined_loss(batch, triples).item()
    trainer.fit(train, valid, saved=False)
    with torch.no_grad():
        after = model.combined_loss(batch, triples).item()
    assert np.isfinite(before) and after < before - 0.05  # measured: 0.71 -> 0.59


# ---------------------------------------------------------------------- duration buckets


def test_duration_bucket_boundaries_come_from_the_training_views_only(dpskipnet):
    _, (train, _, test), _ = dpskipnet
    train_durations = train.dataset.inter_feat["duration"].numpy()
    want = _boundaries(train_durations)
    assert np.array_equal(train.dataset.duration_bucket_boundaries(5).numpy(), want)
    all_durations = np.concatenate([train_durations, test.dataset.inter_feat["duration"].numpy()])
    assert not np.array_equal(_boundaries(all_durations), want)  # the choice matters


def _boundaries(durations):
    """The 20/40/60/80% quantiles, each the largest view duration with at most that
    share of views below it (the observed value; no ties on this data)."""
    ordered = np.sort(durations).astype(np.float64)
    return np.array([ordered[int(np.floor(q * (len(ordered) - 1)))] for q in (0.2, 0.4, 0.6, 0.8)])


def test_tied_durations_merge_buckets_rather_than_leave_one_empty(dpskipnet):
    dataset = dpskipnet[1][0].dataset
    tied = dataset.copy(dataset.inter_feat[:10])
    tied.inter_feat["duration"] = torch.tensor([5.0] * 5 + [9.0, 12.0, 30.0, 40.0, 50.0])
    # quartiles of the 10 views (sorted positions 2, 4, 6): 5, 5, 12; the two at the minimum
    # would leave buckets empty, so 4 buckets asked give 2: {5, 9} and {12, ..., 50}
    assert tied.duration_bucket_boundaries(4).tolist() == [12.0]


def test_duration_buckets_of_every_video_including_those_absent_from_training(dpskipnet):
    _, (train, _, test), _ = dpskipnet
    boundaries = _boundaries(train.dataset.inter_feat["duration"].numpy())
    buckets = train.dataset.duration_buckets(5)
    assert buckets.shape == (train.dataset.item_num,) and buckets[0] == 0  # padding item
    absent = set(test.dataset.inter_feat["item_id"].tolist()) - {i for _, i in _training_pairs(train.dataset)}
    assert absent  # the simulator's split leaves some videos out of training
    for split in (train, test):
        for item, duration in zip(split.dataset.inter_feat["item_id"].tolist(),
                                  split.dataset.inter_feat["duration"].tolist()):
            assert buckets[item] == 1 + int(np.sum(boundaries <= duration))
    assert set(buckets[1:].tolist()) == {1, 2, 3, 4, 5}


def test_bad_bucket_count_is_an_error_naming_the_key(dpskipnet):
    dataset = dpskipnet[1][0].dataset
    with pytest.raises(ValueError, match="duration_buckets: expected a positive integer.*got 0"):
        dataset.duration_buckets(0)


def test_duration_aware_scores_use_the_videos_duration_bucket(duration_aware):
    model = duration_aware[0]
    users, items = torch.tensor([1, 7, 42]), torch.tensor([5, 5, 640])
    with torch.no_grad():
        user_e, video_e = model.forward()
        first, _, last = model.predictor
        bucket_e = model.duration_embedding.weight[model.video_bucket[items]]
        hidden = torch.relu(torch.cat([user_e[users], video_e[items], bucket_e], -1) @ first.weight.T + first.bias)
        want = torch.sigmoid(hidden @ last.weight.T + last.bias).squeeze(-1)  # W2 s(W1 [h_u, h_v, e_b(v)])
        model.restore_user_e = model.restore_item_e = None
        assert torch.allclose(model.predict({"user_id": users, "item_id": items}), want, atol=1e-6)
        assert "video_bucket" not in model.state_dict()


def test_moving_a_video_to_another_duration_bucket_changes_its_scores_only(duration_aware):
    model = duration_aware[0]
    users = torch.tensor([1, 7, 42])
    with torch.no_grad():
        before = model.full_sort_predict({"user_id": users}).view(3, -1)
        original = model.video_bucket[5].item()
        model.video_bucket[5] = original % 5 + 1
        after = model.full_sort_predict({"user_id": users}).view(3, -1)
        model.video_bucket[5] = original
    changed = (before - after).abs() > 1e-6
    assert changed[:, 5].all() and not changed[:, :5].any() and not changed[:, 6:].any()


# ---------------------------------------------------------------------- the entry point and ablations

ABLATIONS = [{"graphs": "single"}, {"graphs": "high"}, {"bpr_negatives": "unseen"},
             {"video_features": "none"}, {"duration_aware": True}]


def _run(tmp_path, **config):
    return run_recbole_denoise(model="DPSkipNet", dataset="microvideo-sim",
                               config_dict=dict(QUIET, checkpoint_dir=str(tmp_path), epochs=2, **config))["test_result"]


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("default"))


def test_default_run_ranks_every_test_user_with_a_full_watch(default_run, dpskipnet):
    test = dpskipnet[1][2].dataset
    users = test.inter_feat["user_id"].numpy()
    full = test.inter_feat["full_watch"].numpy() > 0.5
    assert default_run["users_ranked"] == len(np.unique(users[full]))
    assert default_run["users_ranked"] + default_run["users_skipped"] == len(np.unique(users))
    assert default_run["auc"] > 0.6  # measured 0.63 after 2 epochs (0.5: random order)


@pytest.mark.parametrize("ablation", ABLATIONS, ids=lambda a: "-".join(f"{k}={v}" for k, v in a.items()))
def test_each_ablation_changes_the_test_scores(tmp_path, default_run, ablation):
    # same seed and data: an ignored setting would give the default's metrics exactly
    result = _run(tmp_path, **ablation)
    assert result["users_ranked"] == default_run["users_ranked"]
    assert result["auc"] != default_run["auc"] and result["logloss"] != default_run["logloss"]
