"""Checkpoints that load under ``torch.load(weights_only=True)`` (torch >= 2.6).

RecBole 1.2.1 pickles its whole ``Config`` into every checkpoint, so on torch >= 2.6
``Trainer.evaluate(load_best_model=True)`` fails (``weights_only`` became the
default). Instead of switching that safety off for the user's process, the trainers
of this package save the config as plain values, and load with ``weights_only=True``.
"""

import contextlib
import enum
import inspect
import math
import os
import tempfile

import numpy as np
import torch
from recbole.trainer import Trainer
from recbole.utils import set_color

from recbole_denoise.data.watch_time_dataset import DURATION_FIELD, PLAY_FIELD
from recbole_denoise.evaluator import WatchRows, own_items_metrics
from recbole_denoise.evaluator.duration import DEFAULT_BUCKETS, DURATION_METRICS, training_buckets
from recbole_denoise.utils import load_checkpoint

_PLAIN_TYPES = (str, int, float, bool, type(None))


def plain_value(value):
    """``value`` as tensors / primitives / lists / dicts only (weights_only-safe)."""
    if isinstance(value, np.generic):  # before the plain types: np.float64 is a float
        return value.item()
    if isinstance(value, _PLAIN_TYPES) or isinstance(value, torch.Tensor):
        return value
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value)
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, dict):
        return {str(key): plain_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [plain_value(item) for item in value]
    return str(value)


def plain_config(config):
    """The final config of a RecBole ``Config`` as a plain dict."""
    return plain_value(dict(config.final_config_dict))


def cosine_learning_rate(epoch, epochs, start, end):
    """Cosine annealing from ``start`` (epoch 0) toward ``end`` over ``epochs`` epochs,
    ``end + (start - end) (1 + cos(pi epoch / epochs)) / 2`` (torch's CosineAnnealingLR
    with ``T_max = epochs``)."""
    return end + (start - end) * (1 + math.cos(math.pi * min(epoch, epochs) / max(epochs, 1))) / 2


LR_SCHEDULES = (None, "cosine")


def checked_lr_schedule(config):
    """``lr_schedule`` of ``config`` (``None``: constant), or a ``ValueError`` naming the
    key, its value and the allowed values; ``lr_min`` must then be a number >= 0."""
    schedule = config["lr_schedule"] if "lr_schedule" in config else None
    if schedule not in LR_SCHEDULES:
        raise ValueError(f"lr_schedule must be one of ~ (constant learning_rate) or cosine, "
                         f"got {schedule!r}")
    lr_min = config["lr_min"] if "lr_min" in config else None
    if schedule == "cosine" and not (lr_min is None or (isinstance(lr_min, (int, float)) and lr_min >= 0)):
        raise ValueError(f"lr_min must be a number >= 0 (the final rate of lr_schedule: cosine), got {lr_min!r}")
    return schedule


def atomic_torch_save(obj, path):
    """``torch.save(obj, path)`` through a temporary file in the same folder, renamed over
    ``path`` once complete: an interrupt (Ctrl-C, SIGTERM) or a full disk mid-write leaves
    the previous file whole and no temporary file behind."""
    handle, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp",
                                         dir=os.path.dirname(os.path.abspath(path)))
    try:
        with os.fdopen(handle, "wb") as stream:
            torch.save(obj, stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def resume_file_for(saved_model_file):
    root, ext = os.path.splitext(saved_model_file)
    return f"{root}-resume{ext or '.pth'}"


class SafeCheckpointMixin:
    """Mix into any RecBole trainer: safe checkpoints, resumable training.

    - the best model (RecBole's ``saved_model_file``) and, after every validation, a
      resume point (``<saved_model_file>-resume.pth``) are written without pickled
      objects;
    - ``evaluate(load_best_model=True)`` and ``resume_checkpoint`` load them with
      ``weights_only=True``; a foreign pickled checkpoint loads only when the config
      sets ``trust_pickled_checkpoint: True``;
    - subclasses add their own state through ``extra_checkpoint_state`` and
      ``restore_extra_checkpoint_state``.
    """

    def __init__(self, config, model, *args, **kwargs):
        super().__init__(config, model, *args, **kwargs)
        self.lr_schedule = checked_lr_schedule(config)

    def extra_checkpoint_state(self):
        return {}

    def _train_epoch(self, train_data, epoch_idx, *args, **kwargs):
        self.set_epoch_learning_rate(epoch_idx)
        return super()._train_epoch(train_data, epoch_idx, *args, **kwargs)

    def set_epoch_learning_rate(self, epoch_idx):
        """``lr_schedule: cosine``: :func:`cosine_learning_rate` of the epoch. A function
        of the epoch alone, so a resumed training continues the same schedule."""
        if self.lr_schedule is None:
            return
        rate = cosine_learning_rate(epoch_idx, self.epochs, self.learning_rate, self.config["lr_min"] or 0.0)
        for group in self.optimizer.param_groups:
            group["lr"] = rate

    def restore_extra_checkpoint_state(self, checkpoint):
        pass

    def _checkpoint_state(self, epoch):
        state = {
            "config": plain_config(self.config),
            "epoch": epoch,
            "cur_step": self.cur_step,
            "best_valid_score": plain_value(self.best_valid_score),
            "state_dict": self.model.state_dict(),
            "other_parameter": plain_value(self.model.other_parameter()),
            "optimizer": self.optimizer.state_dict(),
            "best_model_file": self.saved_model_file,
        }
        state.update(self.extra_checkpoint_state())
        return state

    def _save_checkpoint(self, epoch, verbose=True, **kwargs):
        if not self.config["single_spec"] and self.config["local_rank"] != 0:
            return
        saved_model_file = kwargs.pop("saved_model_file", self.saved_model_file)
        atomic_torch_save(self._checkpoint_state(epoch), saved_model_file)
        if verbose:
            self.logger.info(set_color("Saving current", "blue") + f": {saved_model_file}")

    def save_resume_point(self, epoch):
        """Everything needed to continue training after ``epoch``."""
        if not self.config["single_spec"] and self.config["local_rank"] != 0:
            return
        atomic_torch_save(self._checkpoint_state(epoch), resume_file_for(self.saved_model_file))

    def _load(self, path):
        return load_checkpoint(
            path, device=self.device, trust_pickle=bool(self.config["trust_pickled_checkpoint"])
        )

    def fit(self, train_data, valid_data=None, verbose=True, saved=True,
            show_progress=False, callback_fn=None):
        def after_validation(epoch_idx, valid_score):
            if saved:
                self.save_resume_point(epoch_idx)
            if callback_fn is not None:
                callback_fn(epoch_idx, valid_score)

        # the training split, for the own-items duration metrics' bucket statistics: all
        # of it, also when train_keep trains the model on a subset of its rows
        train_split = getattr(train_data, "_dataset", None)
        self.own_items_train_split = getattr(train_split, "whole_training_split", train_split)
        parent_fit = super().fit
        if "callback_fn" not in inspect.signature(parent_fit).parameters:
            # RecBole's pre-training trainers take no callback: best model only
            return parent_fit(train_data, valid_data, verbose=verbose, saved=saved,
                              show_progress=show_progress)
        return parent_fit(
            train_data, valid_data, verbose=verbose, saved=saved,
            show_progress=show_progress, callback_fn=after_validation,
        )

    def resume_checkpoint(self, resume_file):
        """Continue training from a best-model file or a ``-resume.pth`` file."""
        checkpoint = self._load(str(resume_file))
        self.start_epoch = checkpoint["epoch"] + 1
        self.cur_step = checkpoint["cur_step"]
        self.best_valid_score = checkpoint["best_valid_score"]
        # keep writing the best model where the interrupted run wrote it
        self.saved_model_file = checkpoint.get("best_model_file") or str(resume_file)
        saved_model = checkpoint["config"]["model"]
        if str(saved_model).lower() != self.config["model"].lower():
            raise ValueError(
                f"checkpoint {resume_file} is of model {saved_model}, "
                f"not of {self.config['model']}"
            )
        self.model.load_state_dict(checkpoint["state_dict"])
        self.model.load_other_parameter(checkpoint.get("other_parameter"))
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.restore_extra_checkpoint_state(checkpoint)
        self.logger.info(f"Checkpoint loaded. Resume training from epoch {self.start_epoch}")

    def evaluate(self, eval_data, load_best_model=True, model_file=None, show_progress=False):
        if not eval_data:
            return
        if load_best_model:
            checkpoint_file = model_file or self.saved_model_file
            checkpoint = self._load(checkpoint_file)
            self.model.load_state_dict(checkpoint["state_dict"])
            self.model.load_other_parameter(checkpoint.get("other_parameter"))
            self.logger.info(f"Loading model structure and parameters from {checkpoint_file}")
        if self.config["own_items_eval"]:
            return self._evaluate_own_items(eval_data)
        return super().evaluate(
            eval_data, load_best_model=False, model_file=None, show_progress=show_progress
        )

    @torch.no_grad()
    def _evaluate_own_items(self, eval_data):
        """Each user ranks her own test items (``recbole_denoise.evaluator.own_items``).
        The duration metrics also read the rows' play time and duration, and take their
        buckets from the training split that ``fit`` saw (``own_items_train_split``)."""
        if getattr(eval_data, "neg_sample_args", {}).get("distribution") != "none":
            raise ValueError("own_items_eval needs eval_args mode: labeled (each test row is a "
                             "user's own item with its label)")
        metrics = self.config["own_items_metrics"]
        duration_metrics = [m for m in metrics if m.lower() in DURATION_METRICS]
        fields = {"users": self.config["USER_ID_FIELD"], "items": self.config["ITEM_ID_FIELD"],
                  "labels": self.config["own_items_label"] or self.config["LABEL_FIELD"]}
        if duration_metrics:
            fields.update(play_time=PLAY_FIELD, duration=DURATION_FIELD)
        self.model.eval()
        columns = {name: [] for name in list(fields) + ["scores"]}
        for batch in eval_data:
            interaction = batch[0].to(self.device)
            missing = [field for field in fields.values() if field not in interaction]
            if missing:
                needs = f" ({duration_metrics[0]} needs {PLAY_FIELD} and {DURATION_FIELD})" if duration_metrics else ""
                raise ValueError(f"own_items_eval: the test rows lack the fields {missing}{needs}")
            columns["scores"].append(self.model.predict(interaction).float().cpu())
            for name, field in fields.items():
                columns[name].append(interaction[field].float().cpu())
        rows = {name: torch.cat(values).numpy() for name, values in columns.items()}
        watch = None
        if duration_metrics:
            split = getattr(self, "own_items_train_split", None)
            if split is None:
                raise ValueError(f"own_items_metrics: {duration_metrics[0]} needs the training split's duration "
                                 f"statistics, taken when fit(train_data) runs; call fit first or set "
                                 f"trainer.own_items_train_split = train_data._dataset")
            n_buckets = self.config["own_items_duration_buckets"]
            n_buckets = DEFAULT_BUCKETS if n_buckets is None else n_buckets
            watch = WatchRows(rows["play_time"], rows["duration"],
                              training_buckets(split, n_buckets, duration_metrics[0]))
        result = own_items_metrics(rows["users"], rows["items"], rows["scores"], rows["labels"], metrics,
                                   self.config["topk"], self.config, watch=watch)
        valid_metric = str(self.config["valid_metric"]).lower()
        if valid_metric not in result:
            raise ValueError(f"valid_metric {self.config['valid_metric']!r} is not among the own-items results "
                             f"{[key for key in result]}: choose one of them (own_items_definition: authors "
                             f"renames precision, map and ndcg to precision_authors@k, map_authors@k, ndcg_authors@k)")
        return result


_SAFE_CLASSES = {}


def with_safe_checkpoints(trainer_class):
    """``trainer_class`` with ``SafeCheckpointMixin`` mixed in (one class per input).

    RecBole's decision-tree trainers save no torch checkpoints and are returned as is.
    """
    if issubclass(trainer_class, SafeCheckpointMixin) or not issubclass(trainer_class, Trainer):
        return trainer_class
    if trainer_class not in _SAFE_CLASSES:
        _SAFE_CLASSES[trainer_class] = type(
            trainer_class.__name__, (SafeCheckpointMixin, trainer_class), {}
        )
    return _SAFE_CLASSES[trainer_class]
