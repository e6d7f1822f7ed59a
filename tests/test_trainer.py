"""DenoiseTrainer: learns, drops false positives, checkpoints safely, resumes."""

import os

import pytest
import torch
from recbole.model.general_recommender import NeuMF as RecBoleNeuMF
from recbole.model.loss import BPRLoss
from recbole.utils import ModelType, init_seed

from recbole_denoise.config import Config
from recbole_denoise.loss import DenoisingPairwiseLoss, DenoisingPointwiseLoss
from recbole_denoise.quick_start import run_recbole_denoise
from recbole_denoise.trainer import DenoiseTrainer, install_denoising_loss
from recbole_denoise.utils import create_dataset, data_preparation, get_model, get_trainer, load_checkpoint
from support import PLANTED

def _build(model, dataset, config_dict):
    config = Config(model=model, dataset=dataset, config_dict=config_dict)
    init_seed(config["seed"], config["reproducibility"])
    data = create_dataset(config)
    train, valid, test = data_preparation(config, data)
    init_seed(config["seed"], config["reproducibility"])
    net = get_model(config["model"])(config, train._dataset)
    trainer = get_trainer(config["MODEL_TYPE"], config["model"], config)(config, net)
    return config, trainer, (train, valid, test)


def test_gmf_with_tce_learns_planted_groups_and_drops_false_positives(planted_dataset, quiet_config):
    result = run_recbole_denoise(
        model="GMF", dataset="planted",
        config_dict=quiet_config(data_path=planted_dataset, loss_type="TCE", epochs=40,
                                 drop_rate=0.2, num_gradual=20, stopping_step=40, **PLANTED),
    )
    # 30 in-group items per user, ~2 clean ones in test: a learned model ranks the
    # own group first (random ranking over 60 items would give Recall@10 ~ 0.17)
    assert result["test_result"]["recall@10"] > 0.45
    diagnostics = result["denoising"]
    assert diagnostics["dropped"] > 0
    # dropped positives are false positives far more often than at random
    assert diagnostics["drop_precision"] > 1.5 * diagnostics["random_precision"]
    assert diagnostics["ce_noisy"] > diagnostics["ce_clean"]


def test_diagnostics_csv_and_weights_only_checkpoint(planted_dataset, quiet_config, tmp_path):
    settings = quiet_config(data_path=planted_dataset, loss_type="TCE", epochs=2, **PLANTED)
    config, trainer, (train, valid, test) = _build("GMF", "planted", settings)
    untrained = trainer.evaluate(test, load_best_model=False)
    trainer.fit(train, valid, saved=True)
    checkpoint = torch.load(trainer.saved_model_file, weights_only=True)
    assert checkpoint["config"]["model"] == "GMF"
    assert checkpoint["global_step"] == trainer.global_step > 0
    csv_file = os.path.splitext(trainer.saved_model_file)[0] + "-denoising.csv"
    lines = open(csv_file).read().splitlines()
    assert lines[0].startswith("epoch,drop_rate") and len(lines) == 3
    trained = trainer.evaluate(test, load_best_model=True)
    # two epochs already rank the own group higher (untrained: recall@10 0.22, trained 0.34)
    assert trained["recall@10"] > untrained["recall@10"] + 0.05
    # an untrained model loading the checkpoint scores exactly as the trained one
    _, fresh, _ = _build("GMF", "planted", settings)
    assert fresh.evaluate(test, load_best_model=True, model_file=trainer.saved_model_file) == trained


class ForeignObject:
    pass


def test_pickled_checkpoint_needs_explicit_trust(tmp_path):
    path = tmp_path / "foreign.pth"
    torch.save({"config": ForeignObject()}, path)  # pickled, like RecBole's Config
    with pytest.raises(RuntimeError, match="trust_pickled_checkpoint"):
        load_checkpoint(str(path))
    assert isinstance(load_checkpoint(str(path), trust_pickle=True)["config"], ForeignObject)


def test_resume_restores_epoch_and_iteration(planted_dataset, quiet_config):
    overrides = dict(data_path=planted_dataset, loss_type="TCE", epochs=3, **PLANTED)
    _, first, (train, valid, _) = _build("GMF", "planted", quiet_config(**overrides))
    first.fit(train, valid, saved=True)
    resume_file = os.path.splitext(first.saved_model_file)[0] + "-resume.pth"
    assert os.path.exists(resume_file)

    _, second, (train, valid, _) = _build("GMF", "planted", quiet_config(**dict(overrides, epochs=5)))
    second.resume_checkpoint(resume_file)
    assert second.start_epoch == 3
    assert second.global_step == first.global_step
    assert second.saved_model_file == first.saved_model_file
    assert torch.equal(second.model.user_embedding.weight, first.model.user_embedding.weight)
    second.fit(train, valid, saved=True)
    assert second.global_step == first.global_step * 5 // 3


def test_same_seed_same_metrics(planted_dataset, quiet_config):
    def run():
        return run_recbole_denoise(model="GMF", dataset="planted", config_dict=quiet_config(
            data_path=planted_dataset, loss_type="RCE", epochs=3, **PLANTED))["test_result"]

    assert run() == run()


def test_recbole_models_get_a_denoising_stand_in(quiet_config):
    config = Config(model="NeuMF", dataset="ml-100k", config_dict=quiet_config(loss_type="TCE"))
    config_bpr = Config(model="BPR", dataset="ml-100k", config_dict=quiet_config(loss_type="RBPR"))
    dataset = create_dataset(config)
    neumf = RecBoleNeuMF(config, dataset)
    loss = install_denoising_loss(neumf, "TCE", 0.25)
    assert isinstance(neumf.loss, DenoisingPointwiseLoss) and neumf.loss is loss
    bpr = get_model("BPR")(config_bpr, dataset)
    assert isinstance(bpr.loss, BPRLoss)
    install_denoising_loss(bpr, "RBPR", 0.5)
    assert isinstance(bpr.loss, DenoisingPairwiseLoss) and bpr.loss.beta == 0.5
    with pytest.raises(ValueError, match="pairwise model: loss_type must be one of"):
        install_denoising_loss(get_model("BPR")(config_bpr, dataset), "TCE", 0.25)

    class NoLoss(torch.nn.Module):
        pass

    with pytest.raises(ValueError, match="needs exactly one BCEWithLogitsLoss"):
        install_denoising_loss(NoLoss(), "TCE", 0.25)


def test_cdae_trains_user_wise_with_tce(planted_dataset, quiet_config):
    config, trainer, (train, valid, test) = _build(
        "CDAE", "planted",
        quiet_config(data_path=planted_dataset, loss_type="TCE", epochs=2, num_gradual=2,
                     **dict(PLANTED, train_batch_size=16)))
    assert type(train).__name__ == "UserDataLoader"
    assert isinstance(trainer, DenoiseTrainer)
    trainer.fit(train, valid, saved=False)
    row = trainer.diagnostics.history[-1]
    # every training interaction is a positive cell once per epoch, with its flag
    assert row["positives"] == len(train._dataset)
    assert row["false_positives"] == int((train._dataset.inter_feat["clean"] == 0).sum())
    assert row["dropped"] > 0


def test_cosine_schedule_sets_each_epochs_learning_rate_and_survives_resume(planted_dataset, quiet_config):
    settings = dict(PLANTED, data_path=planted_dataset, epochs=4, lr_schedule="cosine", lr_min=0.001)
    config, trainer, (train, valid, _) = _build("GMF", "planted", quiet_config(**settings))
    seen = []
    step = trainer.optimizer.step

    def record(*args, **kwargs):
        seen.append(trainer.optimizer.param_groups[0]["lr"])
        return step(*args, **kwargs)

    trainer.optimizer.step = record
    trainer.fit(train, valid, saved=True)
    # lr = 0.001 + (0.01 - 0.001) (1 + cos(pi e / 4)) / 2 for epochs e = 0..3
    expected = [0.01, 0.0086820, 0.0055, 0.0023180]
    per_epoch = sorted(set(round(lr, 7) for lr in seen), reverse=True)
    assert per_epoch == pytest.approx(expected, rel=1e-4)
    # a resumed training continues the schedule at its next epoch, not at the start
    _, resumed, _ = _build("GMF", "planted", quiet_config(**dict(settings, epochs=8)))
    resumed.resume_checkpoint(trainer.saved_model_file.replace(".pth", "-resume.pth"))
    assert resumed.start_epoch == 4
    resumed.set_epoch_learning_rate(resumed.start_epoch)
    assert resumed.optimizer.param_groups[0]["lr"] == pytest.approx(0.0055)  # epoch 4 of 8


@pytest.mark.parametrize("setting, message", [
    ({"lr_schedule": "step"}, r"lr_schedule must be one of ~ \(constant learning_rate\) or cosine, got 'step'"),
    ({"lr_schedule": "cosine", "lr_min": -0.1}, r"lr_min must be a number >= 0 .* got -0.1"),
])
def test_unknown_lr_schedule_fails_when_the_trainer_is_built(planted_dataset, quiet_config, setting, message):
    with pytest.raises(ValueError, match=message):
        _build("GMF", "planted", quiet_config(data_path=planted_dataset, **setting, **PLANTED))


@pytest.mark.parametrize("model_type, model, why", [
    (ModelType.GENERAL, "RecVAE", "RecBole trains it with its own RecVAETrainer"),
    (ModelType.TRADITIONAL, "Popularity", "it is a TRADITIONAL model"),
    (ModelType.SEQUENTIAL, "SASRec", "it is a SEQUENTIAL model"),
])
def test_denoising_loss_type_that_the_trainer_would_ignore_is_an_error(model_type, model, why):
    with pytest.raises(ValueError, match=f"loss_type 'TCE' cannot be honoured for model {model}: {why}"):
        get_trainer(model_type, model, {"loss_type": "TCE"})
    # the plain losses mean plain training, which every trainer gives
    assert get_trainer(model_type, model, {"loss_type": "CE"}) is not DenoiseTrainer
    assert get_trainer(ModelType.GENERAL, "BPR", {"loss_type": "TBPR"}) is DenoiseTrainer
