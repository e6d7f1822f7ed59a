"""DUMN: its layers against hand computations (purification, memory read / write, triplet
loss), the memory's life (written in training only, saved and restored), ablations that
change the output, seeding, and a planted signal it must learn."""

import math
import os

import numpy as np
import pytest
import torch
from recbole.utils import init_seed

from recbole_denoise.loss.triplet import MemoryTripletLoss, cosine_distance
from recbole_denoise.model.context_aware_recommender.dumn import DUMN
from recbole_denoise.model.memory import (
    TargetAttention,
    cosine_addressing,
    memory_read,
    memory_write,
    orthogonal_purification,
    read_after_own_write,
)
from support import prepared

SMALL = {  # a small DUMN, so the whole module runs in seconds
    "history_length": 10,
    "embedding_size": 8,
    "memory_slots": 16,
    "memory_size": 16,
    "controller_hidden_size": 32,
    "mlp_hidden_size": [32],
    "train_batch_size": 256,
    "eval_batch_size": 4096,
    "feedback_events": None,
    "load_col": {"inter": ["user_id", "item_id", "timestamp", "label", "click", "like", "dislike"],
                 "item": ["item_id", "cate_id"]},
    "eval_args": {"split": {"RS": [0.8, 0.1, 0.1]}, "order": "TO", "group_by": None, "mode": "labeled"},
    "metrics": ["AUC", "LogLoss"],
    "valid_metric": "AUC",
}


def write_feedback_log(root, name="fb", n_users=60, n_items=40, n_cates=8, per_user=40, seed=0, dislike_rate=0.3):
    """Impressions with planted taste: each user likes two of ``n_cates`` item categories;
    ``label`` = the item's category is one of them. Likes (60% of liked-category rows) and
    dislikes (``dislike_rate`` of the others) reveal the taste; clicks are coin flips (pure
    noise)."""
    rng = np.random.default_rng(seed)
    folder = os.path.join(root, name)
    os.makedirs(folder, exist_ok=True)
    category = rng.integers(0, n_cates, n_items)
    rows = ["user_id:token\titem_id:token\ttimestamp:float\tlabel:float\tclick:float\tlike:float\tdislike:float"]
    for user in range(n_users):
        taste = set(rng.choice(n_cates, 2, replace=False).tolist())
        for step in range(per_user):
            item = int(rng.integers(n_items))
            good = int(category[item]) in taste
            click = int(rng.random() < 0.5)
            like = "1" if good and rng.random() < 0.6 else ""
            dislike = "1" if not good and rng.random() < dislike_rate else ""
            rows.append(f"u{user}\ti{item}\t{1000 + 10 * step}\t{int(good)}\t{click}\t{like}\t{dislike}")
    with open(os.path.join(folder, f"{name}.inter"), "w") as handle:
        handle.write("\n".join(rows) + "\n")
    items = ["item_id:token\tcate_id:token"] + [f"i{item}\tc{category[item]}" for item in range(n_items)]
    with open(os.path.join(folder, f"{name}.item"), "w") as handle:
        handle.write("\n".join(items) + "\n")
    return folder


def prepared_dumn(root, checkpoint_dir, dislike_rate=0.3, **config):
    write_feedback_log(str(root), dislike_rate=dislike_rate)
    return prepared("DUMN", "fb", checkpoint_dir, data_path=str(root), **dict(SMALL, **config))


@pytest.fixture(scope="module")
def dumn(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dumn")
    model, loaders, trainer = prepared_dumn(folder / "data", folder / "saved")
    return model, loaders, trainer


def variant(trainer, dataset, **overrides):
    """A fresh DUMN (seed 2020) on ``dataset`` with ``overrides`` in its config."""
    config = trainer.config
    saved = {key: config[key] for key in overrides}
    for key, value in overrides.items():
        config[key] = value
    try:
        init_seed(2020, True)
        return DUMN(config, dataset)
    finally:
        for key, value in saved.items():
            config[key] = value


def first_batch(loaders):
    return next(iter(loaders[0]))


def all_rows(loader):
    """Every row of a split with its item features, as a batch."""
    dataset = loader.dataset
    return dataset.join(dataset.inter_feat)


# ---------------------------------------------------------------- layers, by hand

def test_purified_vector_is_orthogonal_to_the_direction_and_unchanged_by_a_zero_direction():
    vector = torch.tensor([[3.0, 4.0], [2.0, -1.0]])
    direction = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    purified = orthogonal_purification(vector, direction)
    assert torch.allclose(purified, torch.tensor([[0.0, 4.0], [2.0, -1.0]]))  # eq. (6)-(7); row 2: zero direction
    generator = torch.Generator().manual_seed(0)
    a, b = torch.randn(5, 7, generator=generator), torch.randn(5, 7, generator=generator)
    assert torch.allclose((orthogonal_purification(a, b) * b).sum(-1), torch.zeros(5), atol=1e-5)


def test_attention_over_an_empty_history_gives_zero_and_finite_gradients():
    attention = TargetAttention(query_size=3, dim=4)
    elements = torch.randn(2, 5, 4, requires_grad=True)
    mask = torch.tensor([[False] * 5, [False, False, True, True, True]])
    pooled = attention(torch.randn(2, 3), elements, mask)
    pooled.sum().backward()
    assert torch.equal(pooled[0], torch.zeros(4))
    assert torch.isfinite(elements.grad).all() and torch.equal(elements.grad[0], torch.zeros(5, 4))


def test_memory_read_is_the_cosine_softmax_weighted_sum_of_slots():
    memory = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    key = torch.tensor([[2.0, 0.0]])  # cosines 1, 0, 1/sqrt(2)
    for strength in (1.0, 3.0):
        exps = [math.exp(strength * c) for c in (1.0, 0.0, 1 / math.sqrt(2))]
        w = [e / sum(exps) for e in exps]  # eq. (9)-(10)
        weights = cosine_addressing(key, memory, strength)
        assert weights[0].tolist() == pytest.approx(w, rel=1e-6)
        assert memory_read(weights, memory)[0].tolist() == pytest.approx([w[0] + w[2], w[1] + w[2]], rel=1e-6)


WRITE_MEMORY = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
WRITE_WEIGHTS = torch.tensor([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]])
ERASE = torch.tensor([[1.0, 0.0], [0.5, 0.5]])
ADD = torch.tensor([[1.0, 1.0], [0.0, 2.0]])


def test_memory_write_erases_and_adds_the_batch_mean_of_the_rows_writes():
    # slot 0: E = ((.5*1 + .1*.5)/2, (0 + .1*.5)/2) = (.275, .025), A = ((.5 + 0)/2, (.5 + .2)/2) = (.25, .35)
    # slot 1: E = (.175, .025), A = (.15, .25); slot 2: E = (.3, .2), A = (.1, .9)   (eq. 12)
    expected = [[0.725 * 1 + 0.25, 0.975 * 2 + 0.35], [0.825 * 3 + 0.15, 0.975 * 4 + 0.25],
                [0.7 * 5 + 0.1, 0.8 * 6 + 0.9]]
    written = memory_write(WRITE_MEMORY, WRITE_WEIGHTS, ERASE, ADD)
    assert written.tolist() == [pytest.approx(row, rel=1e-6) for row in expected]


def test_the_triplet_anchor_reads_the_memory_its_own_write_leaves():
    anchors = read_after_own_write(WRITE_MEMORY, WRITE_WEIGHTS, ERASE, ADD)
    for row in range(2):
        alone = memory_write(WRITE_MEMORY, WRITE_WEIGHTS[row:row + 1], ERASE[row:row + 1], ADD[row:row + 1])
        assert torch.allclose(anchors[row], WRITE_WEIGHTS[row] @ alone)  # eq. (18) on M after eq. (12)


ANCHORS = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
POSITIVES = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
NEGATIVES = torch.tensor([[0.0, 1.0], [1.0, 1.0], [1.0, 0.0]])
POSITIVE_VALID = torch.tensor([True, True, False])  # row 2's user has no positive: it does not count
NEGATIVE_VALID = torch.tensor([True, True, True])


def test_cosine_distance_is_one_minus_the_cosine():
    assert cosine_distance(torch.tensor([1.0, 0.0]), torch.tensor([1.0, 1.0])).item() == \
        pytest.approx(1 - 1 / math.sqrt(2))


def test_random_triplets_use_each_rows_own_samples():
    loss = MemoryTripletLoss(margin=0.5, sampling="random")
    # row 0: max(0 - 1 + .5, 0) = 0; row 1: max(0 - (1 - 1/sqrt 2) + .5, 0); row 2 not counted (eq. 17)
    expected = (0.0 + (0.5 - (1 - 1 / math.sqrt(2)))) / 2
    assert loss(ANCHORS, POSITIVES, POSITIVE_VALID, NEGATIVES, NEGATIVE_VALID).item() == pytest.approx(expected)


def test_hardest_triplets_take_the_batchs_farthest_valid_positive_and_nearest_negative():
    loss = MemoryTripletLoss(margin=0.5, sampling="hardest")
    # row 0: farthest valid positive (0, 1) at 1 (not the invalid (-1, 0) at 2), nearest negative (1, 0) at 0
    # row 1: farthest positive (1, 0) at 1, nearest negative (0, 1) at 0: both 1 - 0 + .5
    assert loss(ANCHORS, POSITIVES, POSITIVE_VALID, NEGATIVES, NEGATIVE_VALID).item() == pytest.approx(1.5)


def test_a_batch_without_a_counted_row_has_zero_triplet_loss_with_a_gradient():
    anchors = ANCHORS.clone().requires_grad_(True)
    value = MemoryTripletLoss(0.5)(anchors, POSITIVES, torch.zeros(3, dtype=torch.bool), NEGATIVES, NEGATIVE_VALID)
    value.backward()
    assert value.item() == 0.0 and torch.equal(anchors.grad, torch.zeros_like(anchors))


# ---------------------------------------------------------------- the model

def test_every_prediction_is_finite_including_rows_with_empty_histories(dumn):
    model, loaders, _ = dumn
    batch = all_rows(loaders[0])  # every training row: each user's first row has no history
    users, times = batch[model.USER_ID], batch[model.TIME]
    assert (model.histories.count("like", users, times) == 0).any()
    model.eval()
    with torch.no_grad():
        assert torch.isfinite(model.predict(batch)).all()


def test_memories_change_in_training_steps_and_not_in_predict(tmp_path):
    model, loaders, _ = prepared_dumn(tmp_path / "data", tmp_path / "saved")
    batch = first_batch(loaders)
    before = model.memory.clone()
    model.train()
    model.calculate_loss(batch).backward()
    trained = model.memory.clone()
    assert not torch.equal(before, trained)
    model.eval()
    with torch.no_grad():
        model.predict(batch)
        model.calculate_loss(batch)  # evaluation mode: reads only
    assert torch.equal(model.memory, trained)


def test_memories_are_saved_and_a_reloaded_model_predicts_the_same(tmp_path):
    model, loaders, trainer = prepared_dumn(tmp_path / "data", tmp_path / "saved", epochs=1)
    trainer.fit(loaders[0], saved=False, show_progress=False)
    state = model.state_dict()
    assert "memory" in state and not any(key.startswith("histories.") for key in state)
    assert torch.equal(state["memory"], model.memory)
    path = tmp_path / "dumn.pth"
    torch.save(state, path)
    reloaded = variant(trainer, loaders[0].dataset)  # other random memory and weights
    assert not torch.equal(reloaded.memory, model.memory)
    reloaded.load_state_dict(torch.load(path, weights_only=True))
    batch = all_rows(loaders[2])
    model.eval(), reloaded.eval()
    with torch.no_grad():
        assert torch.equal(model.predict(batch), reloaded.predict(batch))


def test_a_kind_without_events_runs_with_an_empty_history_and_no_triplet_term(tmp_path):
    # as on Taobao, which logs no dislike
    model, loaders, _ = prepared_dumn(tmp_path / "data", tmp_path / "saved", dislike_rate=0.0)
    assert model.histories.n_events("dislike") == 0
    batch = first_batch(loaders)
    model.train()
    _, state = model.forward(batch)
    losses = model.triplet_losses(batch, state["controls"])
    assert losses["like"].item() == 0.0 and losses["dislike"].item() == 0.0 and losses["click"].item() > 0
    loss = model.calculate_loss(batch)
    loss.backward()
    assert torch.isfinite(loss) and all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def _prediction(model, batch):
    model.eval()
    with torch.no_grad():
        return model.predict(batch)


def test_purification_off_changes_the_output_of_the_same_parameters(dumn):
    model, loaders, trainer = dumn
    batch = first_batch(loaders)
    plain = variant(trainer, loaders[0].dataset, purification=False)
    plain.load_state_dict(model.state_dict())  # the same parameters and memory
    assert not torch.allclose(_prediction(model, batch), _prediction(plain, batch))


@pytest.mark.parametrize("overrides", [{"memory": "shared"}, {"memory": "none"}, {"feedback": "implicit"},
                                       {"feedback": "merged"}, {"pair": "concat"}, {"pair": "cross"},
                                       {"pair": "ffn"}], ids=lambda o: "-".join(map(str, o.values())))
def test_each_ablation_changes_the_forward_output(dumn, overrides):
    _, loaders, trainer = dumn
    batch = first_batch(loaders)
    base = _prediction(variant(trainer, loaders[0].dataset), batch)
    changed = _prediction(variant(trainer, loaders[0].dataset, **overrides), batch)
    assert torch.isfinite(changed).all() and not torch.allclose(base, changed)


def _training_loss(model, batch, seed=7):
    model.train()
    torch.manual_seed(seed)  # the triplet samples
    return model.calculate_loss(batch).item()


def test_triplet_loss_off_and_random_sampling_change_the_loss_of_the_same_parameters(dumn):
    model, loaders, trainer = dumn
    batch = first_batch(loaders)
    state = model.state_dict()
    losses = {}
    for name, overrides in {"hardest": {}, "random": {"triplet_sampling": "random"},
                            "none": {"triplet_loss": False}}.items():
        net = variant(trainer, loaders[0].dataset, **overrides)
        net.load_state_dict(state, strict=name != "none")  # -TL has no sample projection
        losses[name] = _training_loss(net, batch)
    assert losses["none"] < losses["random"] < losses["hardest"]  # hardest triplets are the hardest


def test_memory_none_has_no_memory_and_no_triplet_loss(dumn):
    _, loaders, trainer = dumn
    model = variant(trainer, loaders[0].dataset, memory="none")
    assert "memory" not in model.state_dict() and not model.triplet_loss


def test_same_seed_same_training_losses(tmp_path):
    runs = []
    for run in range(2):
        model, loaders, _ = prepared_dumn(tmp_path / f"data{run}", tmp_path / f"saved{run}")
        optimizer = torch.optim.Adam(model.parameters(), lr=0.005)
        losses = []
        for _, batch in zip(range(3), loaders[0]):
            model.train()
            loss = model.calculate_loss(batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        runs.append((losses, model.memory.clone()))
    assert runs[0][0] == runs[1][0] and torch.equal(runs[0][1], runs[1][1])


@pytest.mark.parametrize("key, value, expected", [
    ("memory", "bogus", "DUMN: memory = 'bogus'; expected one of 'separate', 'shared', 'none'"),
    ("pair", "atte", "DUMN: pair = 'atte'; expected one of 'gate', 'concat', 'cross', 'ffn'"),
    ("purification", "yes", "DUMN: purification = 'yes'; expected True or False"),
])
def test_an_invalid_setting_is_an_error_naming_key_value_and_expectation(dumn, key, value, expected):
    _, loaders, trainer = dumn
    with pytest.raises(ValueError, match=expected):
        variant(trainer, loaders[0].dataset, **{key: value})


def test_a_history_field_that_is_no_item_field_is_an_error(dumn):
    model, loaders, trainer = dumn
    histories = model.histories
    saved = histories.field_names
    histories.field_names = ("item_id", "brand")
    try:
        with pytest.raises(ValueError, match=r"history_item_fields names \[brand\]"):
            variant(trainer, loaders[0].dataset)
    finally:
        histories.field_names = saved


def test_dumn_learns_the_taste_planted_in_likes_through_its_training_loop(tmp_path):
    model, (train, _, test), trainer = prepared_dumn(tmp_path / "data", tmp_path / "saved", epochs=10,
                                                     train_batch_size=128)
    trainer.fit(train, None, saved=False, show_progress=False)
    result = trainer.evaluate(test, load_best_model=False, show_progress=False)
    assert result["auc"] > 0.75, result  # a label-blind model has 0.5 (this run: 0.81)
