"""NeuMF: RecBole's model, parameters and scores, with a fast full sort."""

import pytest
import torch
from recbole.model.general_recommender import NeuMF as RecBoleNeuMF
from recbole.trainer import Trainer as RecBoleTrainer
from recbole.utils import ModelType, init_seed

from recbole_denoise.config import Config
from recbole_denoise.loss import DenoisingPointwiseLoss
from recbole_denoise.model.general_recommender.neumf import NeuMF
from recbole_denoise.trainer import DenoiseTrainer
from recbole_denoise.utils import create_dataset, data_preparation, get_model, get_trainer

VARIANTS = [(True, True), (True, False), (False, True)]  # (mf_train, mlp_train)


def planted_setup(planted_dataset, quiet_config, **overrides):
    config = Config(model="NeuMF", dataset="planted", config_dict=quiet_config(
        data_path=planted_dataset, mlp_embedding_size=8, mlp_hidden_size=[16, 8, 4],
        mf_embedding_size=4, **overrides))
    init_seed(config["seed"], True)
    dataset = create_dataset(config)
    return config, dataset


def randomise(model, seed=0):
    """Weights far from RecBole's tiny initialisation, so every ReLU and both parts matter."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator))
    return model


def test_registry_config_and_trainer_pick_the_package_neumf(quiet_config):
    assert get_model("NeuMF") is NeuMF and issubclass(NeuMF, RecBoleNeuMF)
    config = Config(model="NeuMF", dataset="ml-100k", config_dict=quiet_config(loss_type="TCE"))
    # RecBole's NeuMF.yaml underneath, this package's NeuMF.yaml over it
    assert (config["mf_train"], config["mlp_train"], config["use_pretrain"]) == (True, True, False)
    assert config["mf_embedding_size"] == 32 and config["mlp_hidden_size"] == [128, 64, 32]
    assert get_trainer(ModelType.GENERAL, "NeuMF", config) is DenoiseTrainer
    plain = get_trainer(ModelType.GENERAL, "NeuMF", None)
    assert issubclass(plain, RecBoleTrainer) and not issubclass(plain, DenoiseTrainer)


def test_denoise_trainer_swaps_the_inherited_bce_loss(planted_dataset, quiet_config):
    config, dataset = planted_setup(planted_dataset, quiet_config, loss_type="TCE")
    train, _, _ = data_preparation(config, dataset)
    model = NeuMF(config, train._dataset)
    trainer = DenoiseTrainer(config, model)
    assert isinstance(model.loss, DenoisingPointwiseLoss) and trainer.loss_module is model.loss
    assert trainer._train_epoch(train, 0) > 0


def test_checkpoints_are_interchangeable_with_recbole(planted_dataset, quiet_config):
    config, dataset = planted_setup(planted_dataset, quiet_config)
    ours, theirs = NeuMF(config, dataset), randomise(RecBoleNeuMF(config, dataset))
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict(theirs.state_dict())  # strict
    theirs.load_state_dict(randomise(ours, seed=1).state_dict())
    assert all(torch.equal(a, b) for a, b in zip(ours.state_dict().values(), theirs.state_dict().values()))


@pytest.mark.parametrize("mf_train, mlp_train", VARIANTS)
def test_full_sort_equals_recbole_predict_over_all_pairs(planted_dataset, quiet_config, mf_train, mlp_train):
    config, dataset = planted_setup(planted_dataset, quiet_config, mf_train=mf_train,
                                    mlp_train=mlp_train, dropout_prob=0.5)
    theirs = randomise(RecBoleNeuMF(config, dataset)).eval()
    ours = NeuMF(config, dataset).eval()
    ours.load_state_dict(theirs.state_dict())
    ours.pair_budget = 3 * dataset.item_num * 16  # chunks of 3 users: 10 users -> 3, 3, 3, 1
    users = torch.arange(1, 11)
    pairs = {ours.USER_ID: users.repeat_interleave(dataset.item_num),
             ours.ITEM_ID: torch.arange(dataset.item_num).repeat(len(users))}
    with torch.no_grad():
        expected = theirs.predict(pairs)
        scores = ours.full_sort_predict({ours.USER_ID: users})
    assert scores.shape == expected.shape
    assert torch.allclose(scores, expected, atol=1e-6, rtol=1e-5)
    assert expected.std() > 0.1  # the scores spread: a real comparison, not all 0.5


def test_item_part_is_reused_until_the_weights_change(planted_dataset, quiet_config):
    config, dataset = planted_setup(planted_dataset, quiet_config)
    theirs = randomise(RecBoleNeuMF(config, dataset)).eval()
    ours = NeuMF(config, dataset).eval()
    users = torch.arange(1, 6)
    pairs = {ours.USER_ID: users.repeat_interleave(dataset.item_num),
             ours.ITEM_ID: torch.arange(dataset.item_num).repeat(len(users))}

    def full_sort():
        with torch.no_grad():
            return ours.full_sort_predict({ours.USER_ID: users})

    full_sort()
    cached = ours.item_first_layer
    full_sort()
    assert cached is not None and ours.item_first_layer is cached  # one evaluation, one item part
    ours.load_state_dict(theirs.state_dict())  # new weights, still in eval mode
    with torch.no_grad():
        assert torch.allclose(full_sort(), theirs.predict(pairs), atol=1e-6)
    optimizer = torch.optim.Adam(ours.parameters(), lr=0.1)
    ours.train()
    assert ours.item_first_layer is None
    ours.calculate_loss({ours.USER_ID: users, ours.ITEM_ID: users, ours.LABEL: torch.ones(5)}).backward()
    optimizer.step()
    ours.eval()
    theirs.load_state_dict(ours.state_dict())
    with torch.no_grad():
        assert torch.allclose(full_sort(), theirs.predict(pairs), atol=1e-6)
    assert "item_first_layer" not in ours.state_dict()


def test_per_pair_work_stays_within_the_budget(planted_dataset, quiet_config):
    config, dataset = planted_setup(planted_dataset, quiet_config)
    model = NeuMF(config, dataset).eval()
    model.pair_budget = 2 * dataset.item_num * 16  # two users per chunk
    seen = []
    for layer in model.mlp_layers.mlp_layers[2:]:
        layer.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0].numel()))
    with torch.no_grad():
        model.full_sort_predict({model.USER_ID: torch.arange(1, 8)})
    assert seen and max(seen) <= model.pair_budget
    assert max(seen) == 2 * dataset.item_num * 16  # widest layer, two users


def test_evaluation_matches_recbole_and_uses_the_fast_path(planted_dataset, quiet_config, monkeypatch):
    config, dataset = planted_setup(planted_dataset, quiet_config)
    train, valid, _ = data_preparation(config, dataset)
    theirs = randomise(RecBoleNeuMF(config, train._dataset))
    ours = NeuMF(config, train._dataset)
    ours.load_state_dict(theirs.state_dict())
    calls = []
    fast = NeuMF.full_sort_predict
    monkeypatch.setattr(NeuMF, "full_sort_predict", lambda self, inter: calls.append(1) or fast(self, inter))
    expected = RecBoleTrainer(config, theirs).evaluate(valid, load_best_model=False)
    result = RecBoleTrainer(config, ours).evaluate(valid, load_best_model=False)
    assert calls and result == expected
