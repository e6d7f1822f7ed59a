"""GRCN, its graph layer and the multimodal dataset it reads."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from recbole.utils import init_seed

from conftest import write_multimodal_dataset
from recbole_denoise.config import Config
from recbole_denoise.data.dataset import MultimodalDataset
from recbole_denoise.model.general_recommender.grcn import GRCN
from recbole_denoise.model.layers import BipartiteGraph, take_rows
from recbole_denoise.quick_start import run_recbole_denoise
from recbole_denoise.trainer.checkpoint import resume_file_for
from recbole_denoise.utils import create_dataset, data_preparation, get_trainer


def test_bipartite_graph_matches_dense_products_and_gradients():
    torch.manual_seed(0)
    rows = torch.tensor([0, 0, 1, 2, 2, 2, 0])  # the repeated (0, 1) edge counts once
    cols = torch.tensor([1, 3, 0, 0, 2, 3, 1])
    graph = BipartiteGraph(rows, cols, 3, 4)
    assert graph.num_edges == 6
    values = torch.randn(6, dtype=torch.double, requires_grad=True)
    x_cols = torch.randn(4, 5, dtype=torch.double, requires_grad=True)
    x_rows = torch.randn(3, 5, dtype=torch.double, requires_grad=True)
    dense = torch.zeros(3, 4, dtype=torch.double)
    dense[graph.rows, graph.cols] = values.detach()
    assert torch.allclose(graph.to_rows(values, x_cols), dense @ x_cols)
    assert torch.allclose(graph.to_cols(values, x_rows), dense.T @ x_rows)
    assert torch.autograd.gradcheck(lambda v, x: graph.to_rows(v, x), (values, x_cols))
    assert torch.autograd.gradcheck(lambda v, x: graph.to_cols(v, x), (values, x_rows))
    some = torch.tensor([3, 1, 3])  # a subset of columns, repeats allowed; column 1 has one edge
    assert torch.allclose(graph.to_some_cols(values, x_rows, some), (dense.T @ x_rows)[some])
    assert torch.autograd.gradcheck(lambda v, x: graph.to_some_cols(v, x, some), (values, x_rows))
    attention = graph.softmax_per_row(torch.randn(6))
    assert torch.allclose(torch.zeros(3).index_add_(0, graph.rows, attention), torch.ones(3))
    dot = graph.edge_dot(x_rows, x_cols)
    assert torch.allclose(dot, (x_rows[graph.rows] * x_cols[graph.cols]).sum(-1))
    assert torch.autograd.gradcheck(lambda a, b: graph.edge_dot(a, b), (x_rows, x_cols))


def test_take_rows_gives_the_same_gradient_every_time_with_several_threads():
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        torch.manual_seed(0)
        x = torch.randn(500, 64, requires_grad=True)
        index = torch.randint(0, 500, (20000, 2))  # many repeats, as edges or batch rows
        upstream = torch.randn(20000, 2, 64)

        def gradient():
            x.grad = None
            (take_rows(x, index) * upstream).sum().backward()
            return x.grad.clone()

        first = gradient()
        assert torch.equal(take_rows(x, index), x[index])
        assert all(torch.equal(first, gradient()) for _ in range(5))
    finally:
        torch.set_num_threads(threads)


def _dataset(root, **config):
    quiet = {"state": "ERROR", "data_path": root, "show_progress": False, "use_gpu": False}
    config = Config(model="GRCN", dataset="mm", config_dict=dict(quiet, **config))
    init_seed(config["seed"], True)
    return config, create_dataset(config)


def test_feature_alignment_survives_shuffled_ids_and_filtered_items(tmp_path):
    root = str(tmp_path)
    folder, row_of_item = write_multimodal_dataset(root, drop_feature_items=(3,), extra_feature_items=2)
    raw_visual = np.load(f"{folder}/mm.visual.npy")
    # drop items with fewer than 16 interactions: RecBole remaps the rest densely
    config, dataset = _dataset(root, item_inter_num_interval="[16,inf)")
    assert isinstance(dataset, MultimodalDataset)
    features = dataset.item_features["visual"]
    tokens = dataset.field2id_token["item_id"]
    checked = 0
    for item_id in range(1, dataset.item_num):
        raw_item = int(tokens[item_id][1:])
        if raw_item == 3:  # no feature row: the mean of the known rows
            continue
        assert torch.allclose(features[item_id], torch.from_numpy(raw_visual[row_of_item[raw_item]]))
        checked += 1
    assert checked >= 5 and dataset.item_num - 1 < 40  # some items were filtered out
    words, n_words = dataset.item_words["title"]
    assert n_words == 4
    for item_id, word in zip(words[0].tolist(), words[1].tolist()):
        group = 1 if int(tokens[item_id][1:]) >= 20 else 0
        assert word // 2 == group  # each item keeps its own group's words


def test_item_without_row_gets_the_mean_fill(tmp_path):
    root = str(tmp_path)
    folder, row_of_item = write_multimodal_dataset(root, drop_feature_items=(3,))
    _, dataset = _dataset(root)
    item_id = dataset.field2token_id["item_id"]["i3"]
    known = [dataset.field2token_id["item_id"][f"i{i}"] for i in row_of_item]
    expected = dataset.item_features["visual"][known].mean(0)
    assert torch.allclose(dataset.item_features["visual"][item_id], expected, atol=1e-6)


def test_mismatched_feature_rows_get_a_clear_error(tmp_path):
    root = str(tmp_path)
    folder, _ = write_multimodal_dataset(root)
    tokens = open(f"{folder}/mm.visual.tokens").read().splitlines()
    open(f"{folder}/mm.visual.tokens", "w").write("\n".join(tokens[:-1]) + "\n")
    with pytest.raises(ValueError, match=r"mm.visual.tokens lists 39 item tokens but mm.visual.npy has 40 rows"):
        _dataset(root)


def _model(root, **config):
    config, dataset = _dataset(root, **config)
    train, valid, test = data_preparation(config, dataset)
    init_seed(config["seed"], True)
    return config, GRCN(config, train._dataset), (train, valid, test)


def test_routing_moves_preferences_toward_neighbour_features(multimodal_dataset):
    _, model, _ = _model(multimodal_dataset, routing_iters=3)
    features = model.distilled_features("visual").detach()
    start = F.normalize(model.preferences["visual"], dim=-1).detach()
    routed = model.route(start, features).detach()
    graph = model.graph
    neighbour_mean = graph.to_rows(graph.row_mean_weights(), features)
    users = torch.unique(graph.rows)
    before = F.cosine_similarity(start[users], neighbour_mean[users])
    after = F.cosine_similarity(routed[users], neighbour_mean[users])
    assert (after > before).float().mean() > 0.95
    assert after.mean() > 0.8 > before.mean()


def test_hard_pruning_zeroes_negative_weights(multimodal_dataset):
    _, soft, _ = _model(multimodal_dataset, pruning="soft")
    _, hard, _ = _model(multimodal_dataset, pruning="hard")
    soft_weights, hard_weights = soft.edge_weights(), hard.edge_weights()
    for key in ("item_to_user", "user_to_item"):
        assert (soft_weights[key] < 0).any()  # random base vectors give negative weights
        assert (hard_weights[key] >= 0).all()
        negative = soft_weights[key] < 0
        assert torch.all(hard_weights[key][negative] == 0)
        assert torch.allclose(hard_weights[key][~negative], soft_weights[key][~negative])


def test_edge_weights_cover_every_training_edge(multimodal_dataset):
    _, model, (train, _, _) = _model(multimodal_dataset)
    weights = model.edge_weights()
    inter = train._dataset.inter_feat
    training_pairs = set(zip(inter["user_id"].tolist(), inter["item_id"].tolist()))
    weighted_pairs = set(zip(weights["user"].tolist(), weights["item"].tolist()))
    assert weighted_pairs == training_pairs
    assert len(weights["item_to_user"]) == len(weights["user_to_item"]) == len(training_pairs)


def test_full_sort_computes_the_graph_once_per_evaluation(multimodal_dataset):
    config, model, (_, valid, _) = _model(multimodal_dataset, eval_batch_size=400)
    trainer = get_trainer(config["MODEL_TYPE"], "GRCN", config)(config, model)
    calls = []
    original = model.forward
    model.forward = lambda: calls.append(1) or original()
    trainer.evaluate(valid, load_best_model=False)
    assert len(valid) > 1 and len(calls) == 1


@pytest.mark.parametrize("variant", [
    {},
    {"fusion": "mean"},
    {"fusion": "max", "pruning": "hard"},
    {"representation": "id"},
    {"modalities": ["title"], "routing_iters": 0},
])
def test_grcn_and_variants_learn_the_planted_groups(multimodal_dataset, tmp_path, variant):
    result = run_recbole_denoise(model="GRCN", dataset="mm", config_dict=dict(
        {"data_path": multimodal_dataset, "epochs": 15, "learning_rate": 0.01, "state": "ERROR",
         "show_progress": False, "use_gpu": False, "checkpoint_dir": str(tmp_path / "saved")}, **variant))
    # 20 in-group items, ~1 test item per user: random ranking gives Recall@10 ~ 0.25
    assert result["test_result"]["recall@10"] > 0.6


def test_checkpoints_hold_parameters_only_and_reload_to_the_same_scores(multimodal_dataset, tmp_path):
    config, model, (train, valid, test) = _model(multimodal_dataset, epochs=1, learning_rate=0.01,
                                                 checkpoint_dir=str(tmp_path / "saved"))
    trainer = get_trainer(config["MODEL_TYPE"], "GRCN", config)(config, model)
    trainer.fit(train, valid, saved=True)
    parameters = {name for name, _ in model.named_parameters()}
    for path in (trainer.saved_model_file, resume_file_for(trainer.saved_model_file)):
        state = torch.load(path, weights_only=True)["state_dict"]
        assert set(state) == parameters  # no item features, no graph: the dataset rebuilds them
    trained = trainer.evaluate(test, load_best_model=True)
    user_all, item_all = model.forward()

    init_seed(config["seed"] + 1, True)  # other initial weights than the trained model had
    fresh = GRCN(config, train._dataset)
    assert not torch.allclose(fresh.forward()[0], user_all)
    fresh_trainer = get_trainer(config["MODEL_TYPE"], "GRCN", config)(config, fresh)
    assert fresh_trainer.evaluate(test, load_best_model=True, model_file=trainer.saved_model_file) == trained
    fresh.restore_user_e = fresh.restore_item_e = None  # not the cache: the weights give the scores
    assert torch.allclose(fresh.forward()[0], user_all) and torch.allclose(fresh.forward()[1], item_all)

    fresh_trainer.resume_checkpoint(resume_file_for(trainer.saved_model_file))  # strict load
    assert fresh_trainer.start_epoch == 1


def test_checkpoint_written_with_item_features_still_loads(multimodal_dataset, caplog):
    _, model, _ = _model(multimodal_dataset)
    old_state = dict(model.state_dict(), features_visual=torch.zeros(1))  # before features left it
    model.load_state_dict(old_state)
    assert "checkpoint carries item features ['features_visual']" in caplog.text
    assert model.features_visual.shape[0] == model.n_items  # the dataset's features stay


def test_loading_weights_clears_the_full_sort_cache(multimodal_dataset):
    _, model, _ = _model(multimodal_dataset)
    users = {"user_id": torch.tensor([1, 2])}
    before = model.full_sort_predict(users)  # fills the cache
    other = {name: value + 0.5 for name, value in model.state_dict().items()}
    model.load_state_dict(other)
    after = model.full_sort_predict(users)
    model.restore_user_e = model.restore_item_e = None
    assert torch.allclose(after, model.full_sort_predict(users)) and not torch.allclose(after, before)
