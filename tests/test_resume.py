"""Resume is exact: a run interrupted after epoch k and resumed from its resume point
trains the same epochs, with the same losses, early stopping, best validation result,
diagnostics and test metrics, as the same run left alone (issue #9)."""

import csv
import logging
import os
import random

import numpy as np
import torch
from recbole.trainer import Trainer

from recbole_denoise.quick_start import run_recbole_denoise
from recbole_denoise.runtime import TrainingInterrupted
from recbole_denoise.trainer import DenoiseTrainer, SafeCheckpointMixin
from recbole_denoise.trainer.checkpoint import random_states, restore_random_states, resume_file_for
from support import PLANTED, QUIET, prepared

def _run(monkeypatch, checkpoint_dir, model, dataset, settings, interrupt=None, resume_file=None):
    """``(trainer, result)`` of ``run_recbole_denoise``; ``interrupt(monkeypatch)`` installs
    what raises ``KeyboardInterrupt`` (then ``result`` is the ``TrainingInterrupted``)."""
    trainers = []
    fit = SafeCheckpointMixin.fit

    def recording_fit(self, *args, **kwargs):
        trainers.append(self)
        return fit(self, *args, **kwargs)

    config = dict(QUIET, seed=2020, reproducibility=True, checkpoint_dir=str(checkpoint_dir), **settings)
    if resume_file is not None:
        config["resume_file"] = resume_file
    with monkeypatch.context() as patch:
        patch.setattr(SafeCheckpointMixin, "fit", recording_fit)
        if interrupt is not None:
            interrupt(patch)
        try:
            result = run_recbole_denoise(model=model, dataset=dataset, config_dict=config)
        except TrainingInterrupted as stopped:
            result = stopped
    return trainers[0], result


def after_resume_point(epoch):
    """Interrupt right after the resume point of ``epoch`` is written."""

    def install(patch):
        save = SafeCheckpointMixin.save_resume_point

        def save_then_stop(self, epoch_idx):
            save(self, epoch_idx)
            if epoch_idx == epoch:
                raise KeyboardInterrupt()

        patch.setattr(SafeCheckpointMixin, "save_resume_point", save_then_stop)

    return install


def in_validation(number):
    """Interrupt during the ``number``-th validation (1 = the first): after that epoch's
    training, its diagnostics row and log lines, before its resume point."""

    def install(patch):
        valid_epoch = Trainer._valid_epoch
        calls = []

        def validate_then_stop(self, *args, **kwargs):
            calls.append(1)
            if len(calls) == number:
                raise KeyboardInterrupt()
            return valid_epoch(self, *args, **kwargs)

        patch.setattr(Trainer, "_valid_epoch", validate_then_stop)

    return install


def _interrupted_and_resumed(monkeypatch, tmp_path, model, dataset, settings, interrupt, resume_epoch):
    """``(uninterrupted, resumed)``, each ``(trainer, result)``, and the interrupted trainer."""
    alone = _run(monkeypatch, tmp_path / "alone", model, dataset, settings)
    interrupted, stopped = _run(monkeypatch, tmp_path / "stopped", model, dataset, settings, interrupt=interrupt)
    assert isinstance(stopped, TrainingInterrupted) and os.path.exists(stopped.resume_file)
    resumed = _run(monkeypatch, tmp_path / "resumed", model, dataset, settings, resume_file=stopped.resume_file)
    assert resumed[0].start_epoch == resume_epoch + 1
    # the resumed run trained only the epochs after the resume point, and wrote its best
    # model where the interrupted run did
    assert resumed[0].saved_model_file == interrupted.saved_model_file
    return alone, resumed, interrupted


def _assert_same_run(alone, resumed):
    (alone_trainer, alone_result), (resumed_trainer, resumed_result) = alone, resumed
    # every epoch's training loss, exactly (the ones after the resume point were trained
    # again; the earlier ones come from the checkpoint)
    assert resumed_trainer.train_loss_dict == alone_trainer.train_loss_dict
    assert resumed_trainer.cur_step == alone_trainer.cur_step
    for key in ("best_valid_score", "best_valid_result", "test_result"):
        assert resumed_result[key] == alone_result[key], key
    assert resumed_result["best_valid_result"] is not None
    return alone_trainer, resumed_trainer


def _csv_rows(trainer):
    with open(trainer.diagnostics.csv_path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_gmf_with_tce_resumed_after_an_interrupt_equals_the_uninterrupted_run(
        monkeypatch, tmp_path, planted_dataset):
    settings = dict(PLANTED, data_path=planted_dataset, loss_type="TCE", epochs=5, drop_rate=0.2,
                    num_gradual=20, stopping_step=10)
    # stopped while validating epoch 3: the csv holds epochs 0-3, the resume point is epoch 2
    alone, resumed, interrupted = _interrupted_and_resumed(
        monkeypatch, tmp_path, "GMF", "planted", settings, in_validation(4), resume_epoch=2)
    assert [row["epoch"] for row in interrupted.diagnostics.history] == [0, 1, 2, 3]
    alone_trainer, resumed_trainer = _assert_same_run(alone, resumed)
    assert isinstance(resumed_trainer, DenoiseTrainer)
    assert resumed_trainer.global_step == alone_trainer.global_step
    # diagnostics: in memory, in the result and in the csv beside the best model, every
    # epoch once and as the uninterrupted run measured it
    assert resumed_trainer.diagnostics.history == alone_trainer.diagnostics.history
    assert [row["epoch"] for row in resumed_trainer.diagnostics.history] == [0, 1, 2, 3, 4]
    assert resumed[1]["denoising"] == alone[1]["denoising"]
    assert resumed_trainer.diagnostics.csv_path == interrupted.diagnostics.csv_path
    assert _csv_rows(resumed_trainer) == _csv_rows(alone_trainer)


def test_dpskipnet_which_samples_with_torch_resumes_exactly(monkeypatch, tmp_path):
    # DPSkipNet draws its triples with torch.rand / torch.randint, anneals the learning
    # rate per epoch (cosine) and shuffles with the train dataloader's generator
    settings = dict(epochs=3, stopping_step=10)
    alone, resumed, _ = _interrupted_and_resumed(
        monkeypatch, tmp_path, "DPSkipNet", "microvideo-sim", settings, after_resume_point(0), resume_epoch=0)
    _assert_same_run(alone, resumed)


def test_recbole_bpr_resumes_exactly_from_an_epoch_without_validation(monkeypatch, tmp_path, planted_dataset):
    # RecBole's BPR through SafeCheckpointMixin: numpy's negative sampler; validations
    # after epochs 1, 3, 5, ...: the resume point of epoch 2 is written after its training
    settings = dict(PLANTED, data_path=planted_dataset, epochs=8, eval_step=2, stopping_step=10)
    alone, resumed, interrupted = _interrupted_and_resumed(
        monkeypatch, tmp_path, "BPR", "planted", settings, after_resume_point(2), resume_epoch=2)
    assert not isinstance(interrupted, DenoiseTrainer)
    _assert_same_run(alone, resumed)
    assert sorted(resumed[0].train_loss_dict) == list(range(8))


def test_an_early_stopped_run_resumes_to_the_same_stop_and_keeps_its_best_model(
        monkeypatch, tmp_path, planted_dataset):
    # a large learning rate: Recall@10 peaks early and stops improving
    settings = dict(PLANTED, data_path=planted_dataset, epochs=30, stopping_step=1, learning_rate=0.5)
    alone = _run(monkeypatch, tmp_path / "alone", "BPR", "planted", settings)
    last = max(alone[0].train_loss_dict)
    assert last < 29 and alone[0].cur_step == 2  # it did stop early
    # interrupted after the validation where the counter first grew
    _, stopped = _run(monkeypatch, tmp_path / "stopped", "BPR", "planted", settings,
                      interrupt=after_resume_point(last - 1))
    resumed = _run(monkeypatch, tmp_path / "resumed", "BPR", "planted", settings, resume_file=stopped.resume_file)
    _assert_same_run(alone, resumed)
    # the resumed run, finished, left its last resume point in the same file: resuming
    # that trains nothing, keeps the best model file and tests the same best model
    best_model = resumed[0].saved_model_file
    before = open(best_model, "rb").read()
    again = _run(monkeypatch, tmp_path / "again", "BPR", "planted", settings, resume_file=stopped.resume_file)
    assert again[0].start_epoch == 30 and open(best_model, "rb").read() == before
    _assert_same_run(alone, again)


def test_random_states_survive_a_weights_only_checkpoint(tmp_path):
    loader = torch.utils.data.DataLoader(list(range(10)), shuffle=True, generator=torch.Generator().manual_seed(1))
    list(loader), np.random.standard_normal(), random.gauss(0, 1)  # mid-stream states, gauss caches
    path = tmp_path / "state.pth"
    torch.save(random_states({"train": loader}), path)

    def draws():
        return (torch.rand(3).tolist(), np.random.standard_normal(3).tolist(), np.random.randint(0, 99, 3).tolist(),
                random.random(), random.gauss(0, 1), list(loader))

    expected = draws()
    torch.manual_seed(7), np.random.seed(7), random.seed(7), loader.generator.manual_seed(7)
    assert restore_random_states(torch.load(path, weights_only=True), {"train": loader}) == []
    assert draws() == expected
    # a dataloader the state names but fit did not get is reported, not skipped silently
    missing = restore_random_states(torch.load(path, weights_only=True), {})
    assert missing == ["the shuffling state of the train dataloader (fit got none)"]


def test_a_resume_point_lacking_state_or_from_another_thread_count_resumes_with_warnings(
        tmp_path, planted_dataset, caplog):
    settings = dict(PLANTED, data_path=planted_dataset, loss_type="TCE", epochs=2)
    _, (train, valid, _), trainer = prepared("GMF", "planted", tmp_path / "first", **settings)
    trainer.fit(train, valid)
    checkpoint = torch.load(resume_file_for(trainer.saved_model_file), weights_only=True)
    for key in ("best_valid_result", "train_loss", "random_state", "denoising_history"):
        del checkpoint[key]  # as resume points were written before they held them
    checkpoint["num_threads"] = torch.get_num_threads() + 1
    torch.save(checkpoint, tmp_path / "old-resume.pth")

    _, _, resumed = prepared("GMF", "planted", tmp_path / "second", **dict(settings, epochs=3))
    with caplog.at_level(logging.WARNING):
        resumed.resume_checkpoint(str(tmp_path / "old-resume.pth"))
    warnings = " ".join(record.getMessage() for record in caplog.records if record.levelno == logging.WARNING)
    assert "lacks best_valid_result, train_loss, random_state" in warnings
    assert "lacks the denoising diagnostics" in warnings
    assert f"the interrupted run had {torch.get_num_threads() + 1}" in warnings
    assert resumed.start_epoch == 2 and resumed.global_step == trainer.global_step
