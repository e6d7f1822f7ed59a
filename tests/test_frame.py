"""FRAME on the bundled micro-video simulation: equations, losses, ablations and the
planted clip-level interest."""

import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from recbole_denoise.data.simulate_microvideo import planted_clip_logits
from recbole_denoise.evaluator.clip_truth import clip_scores_and_truth, pooled_spearman, within_view_spearman
from recbole_denoise.model.general_recommender.frame import _tower
from recbole_denoise.quick_start import run_recbole_denoise
from support import QUIET, prepared

RATIOS = torch.tensor([0.0, 0.3, 0.99, 1.0, 1.7])
COUNTS = torch.tensor([0, 1, 3, 4, 4])  # their positive clips, N_c = 4


def _model(tmp_path, **config):
    return prepared("FRAME", "microvideo-sim", tmp_path, **config)


@pytest.fixture(scope="module")
def frame(tmp_path_factory):
    return _model(tmp_path_factory.mktemp("frame"))


def test_pointwise_loss_is_the_position_weighted_clip_bce(frame):
    model = frame[0]
    scores = torch.tensor([[0.5, -1.0, 2.0, 0.0], [1.5, 0.3, -0.7, 4.0], [-0.2, 0.4, 1.1, -2.0],
                           [0.9, -0.1, 0.6, 1.3], [2.2, 0.8, -0.5, 0.1]])
    pos, neg = lambda s: -math.log(1 / (1 + math.exp(-s))), lambda s: -math.log(1 - 1 / (1 + math.exp(-s)))
    # (row, clip, weight, positive?) for N_c = 4: r = 0 skips in clip 0; r = 0.3 watched clip 0,
    # skipped in clip 1; r = 0.99 watched clips 0-2, skipped in 3; r >= 1 watched all four
    cells = [(0, 0, 1.0, False), (1, 0, 0.25, True), (1, 1, 1.0, False),
             (2, 0, 0.25, True), (2, 1, 0.5, True), (2, 2, 0.75, True), (2, 3, 1.0, False)]
    cells += [(row, c, (c + 1) / 4, True) for row in (3, 4) for c in range(4)]
    # eq. (14) sums the 15 labelled terms; divided by the 5 views, not by the 15 terms
    expected = sum(w * (pos if positive else neg)(scores[r, c].item()) for r, c, w, positive in cells) / 5
    assert model.pointwise_loss(scores, COUNTS).item() == pytest.approx(expected, rel=1e-5)


def test_pairwise_loss_ranks_the_mean_watched_clips_above_the_skipped_clip(frame):
    model = frame[0]
    users = torch.tensor([1, 2, 3])
    items = torch.tensor([4, 5, 6])
    counts = torch.tensor([0, 2, 4])  # skip in clip 0 (no pair); 2 clips watched, skip in clip 2; full
    with torch.no_grad():
        user_p, user_n, clip_1 = model.forward()
        scores, clip_h = model.clip_scores(users, items, (user_p, user_n, clip_1))
        loss = model.pairwise_loss(user_p[users], user_n[users], clip_h, scores, counts)
        watched = model.clip_score(user_p[2], user_n[2], clip_h[1, :2].mean(0))
        expected = -torch.nn.functional.logsigmoid(watched - scores[1, 2])
        none = model.pairwise_loss(user_p[users], user_n[users], clip_h, scores, torch.tensor([0, 4, 4]))
    # eq. (15) sums over views with a pair (one here); divided by all 3 views, like L1
    assert loss.item() == pytest.approx(expected.item() / 3, rel=1e-5)
    assert none.item() == 0.0


def test_loss_is_alpha_l1_plus_beta_l2_per_view(frame):
    model, (train, _, _), _ = frame
    batch = train.dataset.inter_feat[:64]
    users, items = batch["user_id"], batch["item_id"]
    counts = batch["positive_clips"].long()
    with torch.no_grad():
        user_p, user_n, clip_1 = model.forward()
        scores, clip_h = model.clip_scores(users, items, (user_p, user_n, clip_1))
        l1 = model.pointwise_loss(scores, counts)
        l2 = model.pairwise_loss(user_p[users], user_n[users], clip_h, scores, counts)
        alpha, beta = model.pointwise_weight, model.pairwise_weight
        assert model.calculate_loss(batch).item() == pytest.approx((alpha * l1 + beta * l2).item(), rel=1e-5)


def _dense_adjacency(graph, norm):
    dense = torch.zeros(graph.n_rows, graph.n_cols)
    dense[graph.rows, graph.cols] = norm
    return dense


def test_forward_follows_equations_7_to_9_with_dense_matrices(frame):
    model = frame[0]
    with torch.no_grad():
        user_p, user_n, clip_1 = model.forward()
        r_p = _dense_adjacency(model.positive_graph, model.positive_norm)
        r_n = _dense_adjacency(model.negative_graph, model.negative_norm)
        h0 = model.transform(model.clip_feature)  # e_c = W_t f_c
        want_p = torch.relu(r_p @ h0 @ model.user_weight_p.weight.T)  # eq. (7)
        want_n = torch.relu(r_n @ h0 @ model.user_weight_n.weight.T)
        clip_p = torch.relu(r_p.T @ want_p @ model.clip_weight_p.weight.T)  # eq. (8)
        clip_n = torch.relu(r_n.T @ want_n @ model.clip_weight_n.weight.T)
    assert torch.allclose(user_p, want_p, atol=1e-5) and torch.allclose(user_n, want_n, atol=1e-5)
    assert torch.allclose(clip_1, (clip_p + clip_n) / 2, atol=1e-5)  # eq. (9)


def test_graphs_hold_training_views_only(frame):
    model, (train, _, test), _ = frame
    train_pairs = set(zip(train.dataset.inter_feat["user_id"].tolist(), train.dataset.inter_feat["item_id"].tolist()))
    edges = set(zip(model.positive_graph.rows.tolist(), (model.positive_graph.cols // model.n_clips).tolist()))
    edges |= set(zip(model.negative_graph.rows.tolist(), (model.negative_graph.cols // model.n_clips).tolist()))
    assert edges <= train_pairs
    test_only = set(zip(test.dataset.inter_feat["user_id"].tolist(), test.dataset.inter_feat["item_id"].tolist()))
    assert not (edges & (test_only - train_pairs))


def test_full_sort_scores_equal_pairwise_predictions(frame):
    model = frame[0]
    model.eval()
    users = torch.tensor([1, 7, 42])
    with torch.no_grad():
        full = model.full_sort_predict({"user_id": users}).view(len(users), model.n_items)
        items = torch.tensor([1, 5, 300])
        pairs = model.predict({"user_id": users, "item_id": items})
    assert torch.allclose(full[torch.arange(3), items], pairs, atol=1e-5)


def test_learns_the_planted_clip_level_interest(tmp_path):
    model, (train, valid, test), trainer = _model(tmp_path, epochs=10, stopping_step=100)
    untrained = clip_scores_and_truth(model, test.dataset)
    trainer.fit(train, valid, saved=False)
    trained = clip_scores_and_truth(model, test.dataset)
    # held-out views: the clip scores order (user, video, clip) cells and the clips of one
    # view as the planted continuation logits do, far beyond the untrained model
    # (measured: pooled 0.63 and within-view 0.44 after 10 epochs, both about 0.04 untrained)
    assert pooled_spearman(*trained) > 0.45 > pooled_spearman(*untrained) + 0.2
    assert within_view_spearman(*trained) > 0.3 > within_view_spearman(*untrained) + 0.2
    # clips 2-4 share one planted position bias: their order is the user's alone (measured 0.45)
    (scores, truth), (before, _) = trained, untrained
    assert within_view_spearman(scores[:, 1:], truth[:, 1:]) > 0.3 > within_view_spearman(before[:, 1:], truth[:, 1:])


def _one_epoch(checkpoint_dir, **config):
    return run_recbole_denoise(model="FRAME", dataset="microvideo-sim",
                               config_dict=dict(QUIET, checkpoint_dir=str(checkpoint_dir), epochs=1, **config))


@pytest.fixture(scope="module")
def default_one_epoch(tmp_path_factory):
    return _one_epoch(tmp_path_factory.mktemp("default"))["test_result"]


@pytest.mark.parametrize("ablation", [{"negative_clips": False}, {"visual_features": "original", "embedding_size": 32},
                                      {"visual_features": "none"}, {"n_clips": 1},
                                      {"n_clips": 8, "clip_features": None}, {"duration_aware": True}])
def test_ablations_run_through_the_entry_point(tmp_path, ablation, default_one_epoch):
    test = _one_epoch(tmp_path, **ablation)["test_result"]
    # same seed and protocol, so only the ablation can change the scores: LogLoss moves with
    # any change of a predicted probability (a setting the model ignored would leave it equal)
    assert test["users_ranked"] == default_one_epoch["users_ranked"]
    assert test["logloss"] != pytest.approx(default_one_epoch["logloss"], rel=1e-6)


def test_duration_aware_adds_the_bucket_embedding_to_each_clip_of_eq_10(tmp_path):
    model, (train, _, _), _ = _model(tmp_path, duration_aware=True, duration_buckets=4)
    model.eval()
    assert torch.equal(model.video_bucket, train.dataset.duration_buckets(4))
    users, items = torch.tensor([1, 7, 42]), torch.tensor([1, 5, 300])
    nodes = model.clip_nodes(items)
    with torch.no_grad():
        clip_1 = model.forward()[2][nodes]
        plain = model.layer_mix[0] * model.base_clips(nodes) + model.layer_mix[1] * clip_1
        expected = plain + model.duration_embedding.weight[model.video_bucket[items]].unsqueeze(1)
        assert torch.allclose(model.mixed_clips(nodes, clip_1), expected)
        before = model.full_sort_predict({"user_id": users}).view(3, -1)
        # move video 5 to another duration bucket: its scores change, no other video's do
        bucket = int(model.video_bucket[5])
        model.video_bucket[5] = 1 if bucket != 1 else 2
        model.restore = None
        after = model.full_sort_predict({"user_id": users}).view(3, -1)
    changed = (before != after).any(0).nonzero().flatten().tolist()
    assert changed == [5]


def test_without_negative_clips_there_is_no_negative_side(tmp_path):
    model, _, _ = _model(tmp_path, negative_clips=False)
    assert not hasattr(model, "negative_graph") and not hasattr(model, "tower_n")
    assert model.forward()[1] is None


def test_auto_visual_features_enhance_clip_features_when_the_dataset_has_them(frame):
    model = frame[0]
    assert model.visual_features == "enhanced" and model.transform.weight.shape == (128, 32)  # W_t


def test_auto_visual_features_without_clip_features_learn_clip_embeddings_with_a_warning(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        learned, _, _ = _model(tmp_path, clip_features=None)
    assert learned.visual_features == "none" and not hasattr(learned, "transform")
    assert learned.clip_embedding.weight.shape == (learned.n_items * 4, 128)
    warned = [r for r in caplog.records if r.levelno == logging.WARNING and "visual_features 'auto'" in r.getMessage()]
    assert len(warned) == 1 and "clip_features" in warned[0].getMessage()


@pytest.mark.parametrize("setting", ["enhanced", "original"])
def test_visual_features_without_clip_features_is_an_error_naming_the_key(tmp_path, setting):
    with pytest.raises(ValueError, match=f"visual_features '{setting}' needs clip features.*expected "
                                         f"visual_features 'auto' or 'none'.*or a dataset with clip_features"):
        _model(tmp_path, clip_features=None, visual_features=setting)


def test_original_features_with_another_embedding_size_is_an_error_naming_both(tmp_path):
    with pytest.raises(ValueError, match="of size 32, but embedding_size is 128; expected embedding_size 32"):
        _model(tmp_path, visual_features="original")


def test_original_features_are_h_c0_as_they_are_and_stay_out_of_checkpoints(tmp_path):
    original, _, _ = _model(tmp_path, visual_features="original", embedding_size=32)
    assert original.embedding_size == 32 and not hasattr(original, "transform")
    nodes = torch.tensor([4, 9])
    assert torch.equal(original.base_clips(nodes), original.clip_feature[nodes])
    assert "clip_feature" not in original.state_dict()


def test_unknown_visual_features_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="visual_features must be one of"):
        _model(tmp_path, visual_features="pixels")


def test_planted_logits_are_the_simulators_continue_probabilities(frame):
    dataset = frame[1][2].dataset
    folder = Path(dataset.dataset_path)
    views = pd.read_csv(folder / "microvideo-sim.inter", sep="\t", dtype=str).head(200)
    users = dataset.token2id("user_id", views.iloc[:, 0].tolist())
    items = dataset.token2id("item_id", views.iloc[:, 1].tolist())
    continue_p = np.load(folder / "microvideo-sim.truth_continue.npy")[:200]
    logits = planted_clip_logits(dataset, users, items)
    assert np.allclose(1 / (1 + np.exp(-logits)), continue_p, atol=1e-6)


def test_checkpoints_hold_weights_not_features_or_caches(frame, tmp_path):
    model = frame[0]
    with torch.no_grad():
        model.predict({"user_id": torch.tensor([1]), "item_id": torch.tensor([2])})
    assert model.restore is not None
    state = model.state_dict()
    # learned weights only: no clip features, propagated features or evaluation cache
    assert set(state) == {name for name, _ in model.named_parameters()} and not model.other_parameter()
    assert "clip_feature" not in state and "positive_features" not in state
    model.load_state_dict(state)
    assert model.restore is None  # recomputed from the loaded weights on the next prediction


def test_split_tower_equals_the_mlp_on_the_concatenation_of_eq_11(frame):
    model = frame[0]
    user, clips = torch.randn(5, 1, 128), torch.randn(5, 4, 128)
    with torch.no_grad():
        split = _tower(model.tower_p, user, clips)
        concatenated = model.tower_p(torch.cat([user.expand(-1, 4, -1), clips], -1)).squeeze(-1)
    assert torch.allclose(split, concatenated, atol=1e-5)


def test_training_batches_visit_only_their_clips_and_match_the_full_graph(frame):
    model = frame[0]
    nodes = torch.tensor([0, 5, 17, 4003, 2000, 5])
    with torch.no_grad():
        user_p, user_n, clip_1 = model.forward()
        some = model.second_hop_clips(user_p, user_n, nodes)
    assert torch.allclose(some, clip_1[nodes], atol=1e-6)


def test_same_seed_same_metrics(tmp_path):
    runs = [run_recbole_denoise(model="FRAME", dataset="microvideo-sim",
                                config_dict=dict(QUIET, checkpoint_dir=str(tmp_path / str(i)), epochs=2))
            for i in range(2)]
    assert runs[0]["test_result"] == runs[1]["test_result"]
