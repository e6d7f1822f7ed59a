"""What the entry points set up around a run: warning filters, the command line the
benchmarks leave to RecBole, and checkpoints that an interrupt cannot truncate."""

import argparse
import logging
import os
import sys
import warnings

import pytest
import torch

from recbole_denoise import runtime
from recbole_denoise.runtime import KNOWN_HARMLESS_WARNINGS, init_run_logger, quiet_known_warnings
from recbole_denoise.trainer.checkpoint import SafeCheckpointMixin, resume_file_for

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FILLNA_MESSAGE = ("A value is trying to be set on a copy of a DataFrame or Series through chained "
                  "assignment using an inplace method.\nThe behavior will change in pandas 3.0.")
SPARSE_MESSAGE = ("torch.sparse.SparseTensor(indices, values, shape, *, device=) is deprecated.  Please use "
                  "torch.sparse_coo_tensor(indices, values, shape, dtype=, device=).")
GRADSCALER_MESSAGE = ("`torch.cuda.amp.GradScaler(args...)` is deprecated. "
                      "Please use `torch.amp.GradScaler('cuda', args...)` instead.")


def _shown(message, category, module):
    """The messages of the warnings that reach the user when ``module`` warns."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet_known_warnings()
        warnings.warn_explicit(message, category, filename=module.replace(".", "/") + ".py",
                               lineno=1, module=module)
    return [str(item.message) for item in caught]


def test_recbole_known_warnings_are_silenced_from_their_module_only():
    assert _shown(FILLNA_MESSAGE, FutureWarning, "recbole.data.dataset.dataset") == []
    assert _shown(GRADSCALER_MESSAGE, FutureWarning, "recbole.trainer.trainer") == []
    # the same message from another module, another warning from the same module
    assert _shown(FILLNA_MESSAGE, FutureWarning, "recbole_denoise.data.dataset") == [FILLNA_MESSAGE]
    assert _shown(GRADSCALER_MESSAGE, FutureWarning, "recbole.trainer.trainer_extra") == [GRADSCALER_MESSAGE]
    assert _shown("something else", FutureWarning, "recbole.trainer.trainer") == ["something else"]
    assert _shown(SPARSE_MESSAGE, UserWarning, "recbole.model.general_recommender.lightgcn") == []
    assert _shown(SPARSE_MESSAGE, UserWarning, "recbole_denoise.model.grcn") == [SPARSE_MESSAGE]
    assert len(KNOWN_HARMLESS_WARNINGS) == 3


def test_benchmark_arguments_do_not_reach_recbole(monkeypatch, caplog):
    monkeypatch.syspath_prepend(ROOT)
    from benchmarks import common
    from recbole_denoise.config import Config

    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", nargs="+", type=int)
    parser.add_argument("--epochs", type=int)
    argv = ["benchmarks/speed_adt.py", "--seeds", "1", "2", "--epochs=7"]
    monkeypatch.setattr(sys, "argv", list(argv))
    monkeypatch.setattr(common, "_ARGV", [])
    args = common.parse_benchmark_args(parser)
    assert args.seeds == [1, 2] and args.epochs == 7
    assert common.command_line() == "python " + " ".join(argv)  # the docs still show the real command

    with caplog.at_level(logging.WARNING):
        config = Config(model="BPR", dataset="ml-100k", config_dict={"epochs": 3, "use_gpu": False})
    assert "will not be used in RecBole" not in caplog.text
    assert config["epochs"] == 3  # the script's --epochs=7 did not override its own config


class _LoggerConfig(dict):
    """What RecBole's ``init_logger`` reads of a ``Config``."""

    @property
    def final_config_dict(self):
        return self


@pytest.fixture
def run_logger(tmp_path, monkeypatch):
    """``init_run_logger`` writing under ``tmp_path/log``; its handlers removed afterwards."""
    monkeypatch.chdir(tmp_path)
    level = logging.getLogger().level
    yield init_run_logger
    for handler in runtime._RUN_HANDLERS:
        logging.getLogger().removeHandler(handler)
        handler.close()
    runtime._RUN_HANDLERS.clear()
    logging.getLogger().setLevel(level)


def test_each_run_logs_info_to_its_own_file_while_the_console_honours_state(tmp_path, run_logger):
    logger = logging.getLogger()
    for run in ("first", "second"):
        run_logger(_LoggerConfig(model="GMF", dataset=run, state="ERROR", seed=run))
        logger.info(f"{run} run: test result")
    consoles = [h for h in runtime._RUN_HANDLERS if not isinstance(h, logging.FileHandler)]
    assert [h.level for h in consoles] == [logging.ERROR]
    files = {path.name.split("-")[1]: path.read_text() for path in (tmp_path / "log" / "GMF").glob("*.log")}
    assert "first run: test result" in files["first"] and "second run" not in files["first"]
    assert "second run: test result" in files["second"]


class _Checkpointing(SafeCheckpointMixin):
    """Just enough of a trainer for ``save_resume_point``."""

    def __init__(self, saved_model_file):
        self.config = {"single_spec": True, "local_rank": 0}
        self.saved_model_file = saved_model_file
        self.best_valid_result = None

    def _checkpoint_state(self, epoch, best_valid_result=None, random_state_per_rank=None):
        return {"epoch": epoch, "weights": torch.arange(1000.0)}


def test_an_interrupted_save_leaves_the_previous_resume_point_whole(tmp_path, monkeypatch):
    trainer = _Checkpointing(str(tmp_path / "GMF-run.pth"))
    trainer.save_resume_point(3)
    resume_file = resume_file_for(trainer.saved_model_file)
    before = open(resume_file, "rb").read()
    real_save = torch.save

    def interrupted_save(obj, target, *args, **kwargs):
        if isinstance(target, (str, os.PathLike)):
            target = open(target, "wb")
        target.write(b"half a checkpoint")
        target.flush()
        raise KeyboardInterrupt("SIGTERM")

    monkeypatch.setattr(torch, "save", interrupted_save)
    with pytest.raises(KeyboardInterrupt):
        trainer.save_resume_point(4)
    monkeypatch.setattr(torch, "save", real_save)

    assert open(resume_file, "rb").read() == before
    assert torch.load(resume_file, weights_only=True)["epoch"] == 3
    assert sorted(os.listdir(tmp_path)) == [os.path.basename(resume_file)]  # no temporary left
