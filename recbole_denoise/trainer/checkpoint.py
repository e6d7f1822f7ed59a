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
import random
import tempfile
from collections import OrderedDict

import numpy as np
import torch
from recbole.trainer import Trainer
from recbole.utils import set_color

from recbole_denoise import distributed
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


def random_states(loaders=None):
    """The state of every random generator a training epoch draws from, as tensors and
    plain values (so it loads with ``weights_only=True``):

    - ``torch``: torch's CPU generator (model initialisation, dropout, the models that
      sample on their own, e.g. DPSkipNet's ``torch.rand`` / ``torch.randint``), and
      ``cuda``, every CUDA device's generator when CUDA is available;
    - ``numpy``: numpy's global ``RandomState``, which RecBole's negative samplers
      (``recbole.sampler``: ``np.random.randint``) draw from, in training and in
      sampled evaluation;
    - ``python``: python's ``random`` module;
    - ``loaders``: the ``torch.Generator`` of each named dataloader (RecBole seeds one
      per dataloader with ``seed`` when it is built; shuffling draws from it).
    """
    keys, position, has_gauss, cached_gaussian = np.random.get_state()[1:]
    version, python_state, gauss_next = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(position),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached_gaussian)},
        "python": {"version": version, "state": torch.tensor(python_state, dtype=torch.int64),
                   "gauss_next": gauss_next},
        "loaders": {name: loader.generator.get_state() for name, loader in (loaders or {}).items()
                    if isinstance(getattr(loader, "generator", None), torch.Generator)},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_random_states(state, loaders=None):
    """Set the generators :func:`random_states` saved. Returns what could not be
    restored (a CUDA device or a dataloader the state names but this process lacks), as
    sentences, for the caller to warn about: the run continues, but not exactly."""
    torch.set_rng_state(state["torch"].cpu())
    numpy = state["numpy"]
    np.random.set_state(("MT19937", numpy["keys"].cpu().numpy().astype(np.uint32), numpy["pos"],
                         numpy["has_gauss"], numpy["cached_gaussian"]))
    python = state["python"]
    random.setstate((python["version"], tuple(int(x) for x in python["state"].tolist()), python["gauss_next"]))
    missing = []
    if "cuda" in state:
        devices = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if devices == len(state["cuda"]):
            torch.cuda.set_rng_state_all([generator.cpu() for generator in state["cuda"]])
        else:
            missing.append(f"the random states of {len(state['cuda'])} CUDA devices (this process has {devices})")
    loaders = loaders or {}
    for name, generator_state in state["loaders"].items():
        loader = loaders.get(name)
        if isinstance(getattr(loader, "generator", None), torch.Generator):
            loader.generator.set_state(generator_state.cpu())
        else:
            missing.append(f"the shuffling state of the {name} dataloader (fit got none)")
    return missing


def resume_file_for(saved_model_file):
    root, ext = os.path.splitext(saved_model_file)
    return f"{root}-resume{ext or '.pth'}"


class SafeCheckpointMixin:
    """Mix into any RecBole trainer: safe checkpoints, exactly resumable training.

    - the best model (RecBole's ``saved_model_file``) and a resume point
      (``<saved_model_file>-resume.pth``) are written without pickled objects; the
      resume point is written at the end of every epoch: after the validation on an
      epoch that validates, after the training on one that does not (``eval_step`` > 1,
      or no validation data), so an interrupt loses at most the epoch under way;
    - a checkpoint holds the state at the end of its epoch: model, optimizer, epoch, the
      early-stopping counter (``cur_step``), best validation score and result, every
      epoch's training loss and validation score and result (``valid_history``, which
      ``python -m recbole_denoise.plot training`` draws), and every random generator
      training draws from (:func:`random_states`), so a resumed training repeats, on the
      same seed and thread count, exactly the epochs an uninterrupted one would have run;
    - ``evaluate(load_best_model=True)`` and ``resume_checkpoint`` load them with
      ``weights_only=True``; a foreign pickled checkpoint loads only when the config
      sets ``trust_pickled_checkpoint: True``;
    - subclasses add their own state through ``extra_checkpoint_state`` and
      ``restore_extra_checkpoint_state``.

    In a distributed run (``recbole_denoise.distributed``) only global rank 0 writes
    checkpoints, the log and tensorboard; it reads the checkpoints too, and hands them
    to the other processes (on several machines only rank 0's disk has them). A
    checkpoint keeps every process's random generators (``random_state_per_rank``).
    Evaluation gathers every process's rows and computes the metrics once; the
    training loss logged is the mean over processes.
    """

    def __init__(self, config, model, *args, **kwargs):
        if distributed.is_distributed(config) and config["device"].type == "cpu":
            # RecBole's AbstractTrainer wraps the model with device_ids, which torch
            # refuses for a CPU model: let it skip the wrapping and wrap here instead
            config["single_spec"] = True
            try:
                super().__init__(config, model, *args, **kwargs)
            finally:
                config["single_spec"] = False
            self.distributed_model = distributed.wrap_model(config, self.model)
        else:
            super().__init__(config, model, *args, **kwargs)
        if distributed.is_distributed(config):
            self._join_processes()
        self.lr_schedule = checked_lr_schedule(config)
        self._fit_loaders = {}  # the dataloaders of the running fit, for their generators
        self._resume_points = False  # whether this fit writes a resume point every epoch
        self._epoch_valid_result = None  # the validation result of the epoch under way
        self._epoch_under_way = None  # the epoch _train_epoch last trained
        self.valid_history = []  # [epoch, valid score, valid result] of every validation
        self._resumed_random_state = None  # set by resume_checkpoint, restored when fit starts
        self._resumed = False

    def _join_processes(self):
        """One best-model file name for all processes (RecBole names it by each process's
        clock), metrics on every process's rows, tensorboard on rank 0 only."""
        self.saved_model_file = distributed.from_main_process(self.config, lambda: self.saved_model_file)
        self.evaluator = distributed.GatheredEvaluator(self.evaluator)
        if not distributed.is_main_process(self.config):
            self.tensorboard = distributed.silence_tensorboard(self.tensorboard)

    def _map_reduce(self, result, num_sample):
        # RecBole averages each process's metrics here; the GatheredEvaluator computed
        # them on every process's rows already
        return result

    def extra_checkpoint_state(self):
        return {}

    def _train_epoch(self, train_data, epoch_idx, *args, **kwargs):
        self._epoch_valid_result = None
        self._epoch_under_way = epoch_idx
        self.set_epoch_learning_rate(epoch_idx)
        loss = super()._train_epoch(train_data, epoch_idx, *args, **kwargs)
        if distributed.is_distributed(self.config):
            loss = distributed.mean_over_ranks(loss)  # each process summed the losses of its batches
        return loss

    def _valid_epoch(self, valid_data, show_progress=False):
        valid_score, valid_result = super()._valid_epoch(valid_data, show_progress=show_progress)
        self._epoch_valid_result = valid_result
        if self._epoch_under_way is not None:
            self.valid_history.append([int(self._epoch_under_way), plain_value(valid_score),
                                       plain_value(dict(valid_result))])
        return valid_score, valid_result

    def _add_train_loss_to_tensorboard(self, epoch_idx, losses, tag="Loss/Train"):
        # RecBole's fit calls this once per epoch, after the training (and its
        # train_loss_dict entry) and before the validation: the end of an epoch that
        # does not validate; an epoch that does gets its resume point after validating
        super()._add_train_loss_to_tensorboard(epoch_idx, losses, tag=tag)
        if self._resume_points and not self._validates_after(epoch_idx):
            self.save_resume_point(epoch_idx)

    def _validates_after(self, epoch_idx):
        """Whether RecBole's ``fit`` validates after training epoch ``epoch_idx``."""
        valid_data = self._fit_loaders.get("valid")
        if self.eval_step <= 0 or not valid_data:
            return False
        return (epoch_idx + 1) % self.eval_step == 0

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

    def _checkpoint_state(self, epoch, best_valid_result, random_state_per_rank=None):
        state = {
            "config": plain_config(self.config),
            "epoch": epoch,
            "cur_step": self.cur_step,
            "best_valid_score": plain_value(self.best_valid_score),
            "best_valid_result": plain_value(best_valid_result),
            "train_loss": [[int(index), plain_value(loss)] for index, loss in self.train_loss_dict.items()],
            "valid_history": plain_value(self.valid_history),
            "state_dict": self.model.state_dict(),
            "other_parameter": plain_value(self.model.other_parameter()),
            "optimizer": self.optimizer.state_dict(),
            "best_model_file": self.saved_model_file,
            "random_state": random_states(self._fit_loaders),
            "num_threads": torch.get_num_threads(),
        }
        if random_state_per_rank is not None:
            state["random_state_per_rank"] = random_state_per_rank
        state.update(self.extra_checkpoint_state())
        return state

    def _random_state_per_rank(self):
        """Every process's :func:`random_states`, in a distributed run (a collective: every
        process calls it), else ``None``."""
        if not distributed.is_distributed(self.config):
            return None
        return distributed.all_gather_objects(random_states(self._fit_loaders))

    def _save_checkpoint(self, epoch, verbose=True, **kwargs):
        if epoch == -1 and self._resumed:
            # RecBole's fit saves the current model as the best one when nothing is left
            # to train; after a resume that would replace the best model by the last one
            self.logger.info(f"Nothing left to train after the resume point; the best model stays "
                             f"{self.saved_model_file}")
            return
        per_rank = self._random_state_per_rank()
        if not distributed.is_main_process(self.config):
            return
        saved_model_file = kwargs.pop("saved_model_file", self.saved_model_file)
        # RecBole saves the best model after a validation that improved and before it
        # sets best_valid_result to that validation's result
        best_valid_result = self._epoch_valid_result if epoch >= 0 and self._epoch_valid_result is not None \
            else self.best_valid_result
        atomic_torch_save(self._checkpoint_state(epoch, best_valid_result, per_rank), saved_model_file)
        if verbose:
            self.logger.info(set_color("Saving current", "blue") + f": {saved_model_file}")

    def save_resume_point(self, epoch):
        """Everything needed to continue training after ``epoch``, as it is at the end of
        that epoch (call it after the epoch's validation, if it has one)."""
        per_rank = self._random_state_per_rank()
        if not distributed.is_main_process(self.config):
            return
        atomic_torch_save(self._checkpoint_state(epoch, self.best_valid_result, per_rank),
                          resume_file_for(self.saved_model_file))

    def _load(self, path):
        trust_pickle = bool(self.config["trust_pickled_checkpoint"])
        if distributed.is_distributed(self.config):
            # rank 0 reads (its disk has the file) and hands it over, on the CPU: the
            # tensors would otherwise unpickle onto rank 0's GPU in every process
            return distributed.from_main_process(
                self.config, lambda: load_checkpoint(path, device="cpu", trust_pickle=trust_pickle))
        return load_checkpoint(path, device=self.device, trust_pickle=trust_pickle)

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
        self._fit_loaders = {"train": train_data, "valid": valid_data}
        if self._resumed_random_state is not None:
            # here rather than in resume_checkpoint: the dataloaders' generators are
            # known only now, and nothing between the two may draw from the others
            missing = restore_random_states(self._resumed_random_state, self._fit_loaders)
            self._resumed_random_state = None
            if missing:
                self.logger.warning(set_color("Resumed without ", "red") + "; ".join(missing)
                                    + ": the training goes on, but not as the interrupted run would have")
        parent_fit = super().fit
        if "callback_fn" not in inspect.signature(parent_fit).parameters:
            # RecBole's pre-training trainers take no callback: best model only
            return parent_fit(train_data, valid_data, verbose=verbose, saved=saved,
                              show_progress=show_progress)
        self._resume_points = saved
        try:
            return parent_fit(
                train_data, valid_data, verbose=verbose, saved=saved,
                show_progress=show_progress, callback_fn=after_validation,
            )
        finally:
            self._resume_points = False

    def resume_checkpoint(self, resume_file):
        """Continue training from a ``-resume.pth`` file (or a best-model file, which
        holds the same state at the end of its epoch). The random states are restored
        when ``fit`` starts; a checkpoint that lacks a part of the state is resumed with
        a warning that names it."""
        checkpoint = self._load(str(resume_file))
        saved_model = checkpoint["config"]["model"]
        if str(saved_model).lower() != self.config["model"].lower():
            raise ValueError(
                f"checkpoint {resume_file} is of model {saved_model}, "
                f"not of {self.config['model']}"
            )
        self.start_epoch = checkpoint["epoch"] + 1
        self.cur_step = checkpoint["cur_step"]
        self.best_valid_score = checkpoint["best_valid_score"]
        # keep writing the best model where the interrupted run wrote it
        self.saved_model_file = checkpoint.get("best_model_file") or str(resume_file)
        self.model.load_state_dict(checkpoint["state_dict"])
        self.model.load_other_parameter(checkpoint.get("other_parameter"))
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        missing = [key for key in ("best_valid_result", "train_loss", "random_state") if key not in checkpoint]
        result = checkpoint.get("best_valid_result")
        self.best_valid_result = None if result is None else OrderedDict(result)
        self.train_loss_dict = {int(index): tuple(loss) if isinstance(loss, list) else loss
                                for index, loss in checkpoint.get("train_loss", [])}
        self.valid_history = [list(entry) for entry in checkpoint.get("valid_history", [])]
        self._resumed_random_state = self._own_random_state(checkpoint, resume_file)
        self._resumed = True
        self.restore_extra_checkpoint_state(checkpoint)
        if missing:
            self.logger.warning(
                set_color("Resume checkpoint lacks ", "red") + ", ".join(missing) + f" ({resume_file}, written "
                "before resume points held them): the training goes on, but not as the interrupted run would have")
        threads = checkpoint.get("num_threads")
        if threads is not None and threads != torch.get_num_threads():
            self.logger.warning(
                f"Resuming with {torch.get_num_threads()} torch threads; the interrupted run had {threads}: "
                f"float sums may round differently, so the results may differ in the last digits")
        if self.cur_step > self.stopping_step:
            # the interrupted run had stopped early (cur_step > stopping_step is RecBole's
            # stop condition) after writing this resume point
            self.logger.info(f"The run had stopped early at epoch {checkpoint['epoch']} ({self.cur_step} "
                             f"validations without improvement, stopping_step {self.stopping_step}): "
                             f"nothing left to train")
            self.start_epoch = max(self.start_epoch, self.epochs)
        self.logger.info(f"Checkpoint loaded. Resume training from epoch {self.start_epoch}")

    def _own_random_state(self, checkpoint, resume_file):
        """This process's random generators in ``checkpoint``: its own entry of
        ``random_state_per_rank`` when the checkpoint was written by as many processes,
        else (a different number of processes) rank 0's state on rank 0 only, with a
        warning, while the other processes keep their fresh seeds."""
        if not distributed.is_distributed(self.config):
            return checkpoint.get("random_state")
        per_rank = checkpoint.get("random_state_per_rank") or []
        rank, world_size = distributed.global_rank(self.config), self.config["world_size"]
        if len(per_rank) == world_size:
            return per_rank[rank]
        self.logger.warning(
            f"Resume checkpoint {resume_file} was written by {len(per_rank) or 1} process(es), this run has "
            f"{world_size}: only rank 0 restores its random generators, so the training goes on, but not as "
            f"the interrupted run would have")
        return checkpoint.get("random_state") if rank == 0 else None

    def evaluate(self, eval_data, load_best_model=True, model_file=None, show_progress=False):
        if not eval_data:
            return
        if isinstance(self.evaluator, distributed.GatheredEvaluator):
            self.evaluator.loader = eval_data
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
        columns = {name: torch.cat(values) for name, values in columns.items()}
        if distributed.is_distributed(self.config):
            columns = distributed.gather_rows(eval_data, columns)  # every process's rows, in order
        rows = {name: values.numpy() for name, values in columns.items()}
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
