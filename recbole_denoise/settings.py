"""recbole_denoise.settings
############################
The config keys this package checks, in one table: type, range or allowed values of
every key of ``properties/overall.yaml`` and ``properties/model/*.yaml`` (tests check the
table against the ``(type)`` comments of those files), plus RecBole's common keys that
otherwise fail late or not at all (``epochs=-1`` trained nothing and saved the model).

- :func:`check_settings`: every bad value of a config at once, as one
  :class:`SettingError` that names key, value, where it came from and what is expected;
- :func:`unknown_keys`: keys that nothing reads (a misspelt ``--drop_rat``), each with
  the closest known key, for a WARNING.

RecBole's ``Config`` turns a command-line value into a Python value with ``eval`` when it
can and keeps the string otherwise, so ``--drop_rate=abc`` arrives as ``'abc'``.
"""

import math
import numbers
import os
import re
from dataclasses import dataclass
from functools import lru_cache

from recbole.utils import dataset_arguments, evaluation_arguments, general_arguments, training_arguments

from recbole_denoise import catalog
from recbole_denoise.data.dataset import MISSING_FEATURE_FILLS
from recbole_denoise.data.watch_time import CLIP_WEIGHT_SCHEMES
from recbole_denoise.evaluator.own_items import DEFINITIONS, TIE_POLICIES
from recbole_denoise.loss import POINTWISE_LOSSES
from recbole_denoise.loss.triplet import TRIPLET_SAMPLINGS
from recbole_denoise.model.context_aware_recommender.dumn import FEEDBACKS, MEMORIES, PAIRS
from recbole_denoise.model.general_recommender.cdae import _ACTIVATIONS
from recbole_denoise.model.general_recommender.dpskipnet import BPR_NEGATIVES, GRAPHS
from recbole_denoise.model.general_recommender.frame import VISUAL_FEATURES
from recbole_denoise.model.general_recommender.grcn import FUSIONS, PRUNINGS, REPRESENTATIONS
from recbole_denoise.trainer.checkpoint import LR_SCHEDULES as CHECKPOINT_LR_SCHEDULES
from recbole_denoise.utils import DENOISE_LOSS_TYPES, properties_dir

# loss_type values of RecBole's own models (its model yamls and the models' code)
RECBOLE_LOSS_TYPES = ("CE", "BPR", "BCE", "MSE", "NLL")
LOSS_TYPES = tuple(dict.fromkeys(RECBOLE_LOSS_TYPES + DENOISE_LOSS_TYPES))
# RecBole's Trainer._build_optimizer (any case); another name falls back to Adam
LEARNERS = ("adam", "adamw", "sgd", "adagrad", "rmsprop", "sparse_adam")
LOG_STATES = ("debug", "info", "warning", "error", "critical")
LR_SCHEDULES = tuple(schedule for schedule in CHECKPOINT_LR_SCHEDULES if schedule is not None)  # besides ~
# the package's pointwise models take the pointwise ADT losses only (DenoiseTrainer)
POINTWISE_LOSS_TYPES = tuple(loss for loss in DENOISE_LOSS_TYPES if loss in POINTWISE_LOSSES)


class SettingError(ValueError):
    """Config values that the code cannot honour (the message lists each one)."""


@dataclass(frozen=True)
class Setting:
    """What one key accepts. ``kind``: int, float, str, path (a str or ``os.PathLike``),
    bool, list or dict; ``low`` / ``high``: bounds, inclusive unless ``low_open`` /
    ``high_open``; ``choices``: allowed values (compared lower-case with
    ``ignore_case``); ``nullable``: ``~`` (None) allowed; ``item``: the Setting every list
    element must meet; ``length``: the list's length; ``or_item``: a single element may
    stand for a list of one (``topk: 10``); ``words``: ``expected()`` in other words."""

    kind: str
    low: float = None
    high: float = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple = None
    ignore_case: bool = False
    nullable: bool = False
    item: "Setting" = None
    length: int = None
    or_item: bool = False
    words: str = None

    def accepts(self, value):
        if value is None:
            return self.nullable
        if self.or_item and self.item is not None and self.item.accepts(value):
            return True
        return _KIND_CHECKS[self.kind](value) and self._in_range(value) and self._allowed(value) \
            and self._items_ok(value)

    def _in_range(self, value):
        if self.kind not in ("int", "float"):
            return True
        if isinstance(value, float) and math.isnan(value):
            return False
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        return self.high is None or not (value > self.high or (self.high_open and value == self.high))

    def _allowed(self, value):
        if self.choices is None:
            return True
        if self.ignore_case:
            return value.lower() in {choice.lower() for choice in self.choices}
        return value in self.choices

    def _items_ok(self, value):
        if self.kind != "list":
            return True
        if self.length is not None and len(value) != self.length:
            return False
        return self.item is None or all(self.item.accepts(element) for element in value)

    def expected(self):
        """What the key accepts, in words: ``a number in [0, 1)``."""
        if self.words is not None:
            return self.words
        if self.choices is not None:
            text = "one of " + ", ".join(repr(choice) for choice in self.choices)
            text += " (any case)" if self.ignore_case else ""
        elif self.kind == "list":
            text = f"a list of {self.length}" if self.length else "a list"
            text += f" of {self.item.expected_plural()}" if self.item else ""
            if self.or_item:
                text = f"{self.item.expected()} or {text}"
        else:
            text = _KIND_WORDS[self.kind] + self._range_words()
        return text + (" or ~ (None)" if self.nullable else "")

    def expected_plural(self):
        return {"int": "integers", "float": "numbers", "str": "strings"}.get(self.kind, self.kind) \
            + self._range_words()

    def _range_words(self):
        if self.low is not None and self.high is not None:
            return (f" in {'(' if self.low_open else '['}{self.low}, "
                    f"{self.high}{')' if self.high_open else ']'}")
        if self.low is not None:
            return f" {'>' if self.low_open else '>='} {self.low}"
        if self.high is not None:
            return f" {'<' if self.high_open else '<='} {self.high}"
        return ""


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


_KIND_CHECKS = {
    "int": _is_int,
    "float": _is_number,
    "str": lambda value: isinstance(value, str),
    "path": lambda value: isinstance(value, (str, os.PathLike)),
    "bool": lambda value: isinstance(value, bool),
    "list": lambda value: isinstance(value, (list, tuple)),
    "dict": lambda value: isinstance(value, dict),
}
_KIND_WORDS = {"int": "an integer", "float": "a number", "str": "a string", "path": "a path",
               "bool": "True or False", "list": "a list", "dict": "a dict ({key: value})"}


def integer(low=None, high=None, nullable=False):
    return Setting("int", low=low, high=high, nullable=nullable)


def number(low=None, high=None, low_open=False, high_open=False, nullable=False, words=None):
    return Setting("float", low=low, high=high, low_open=low_open, high_open=high_open, nullable=nullable,
                   words=words)


def text(*choices, ignore_case=False, nullable=False, words=None):
    return Setting("str", choices=choices or None, ignore_case=ignore_case, nullable=nullable, words=words)


def path(nullable=False):
    return Setting("path", nullable=nullable)


def flag():
    return Setting("bool")


def listing(item=None, length=None, nullable=False, or_item=False):
    return Setting("list", item=item, length=length, nullable=nullable, or_item=or_item)


def mapping(nullable=False):
    return Setting("dict", nullable=nullable)


# RecBole's keys that fail late, badly or not at all when wrong
RECBOLE_SETTINGS = {
    "epochs": integer(1),
    "train_batch_size": integer(1),
    "eval_batch_size": integer(1),
    "learning_rate": number(0, low_open=True),
    "weight_decay": number(0),
    "learner": text(*LEARNERS, ignore_case=True),
    "stopping_step": integer(0),
    "eval_step": integer(0),  # 0: no validation
    "topk": listing(integer(1), or_item=True),
    "metrics": listing(text(), or_item=True),
    "valid_metric": text(),
    "seed": integer(),
    "state": text(*LOG_STATES, ignore_case=True, nullable=True),
    "use_gpu": flag(),
    "show_progress": flag(),
    "reproducibility": flag(),
    "shuffle": flag(),
    "repeatable": flag(),
    "save_dataset": flag(),
    "save_dataloaders": flag(),
    "worker": integer(0),
    "checkpoint_dir": path(),
    "loss_decimal_place": integer(0),
    "metric_decimal_place": integer(0),
    "eval_args": mapping(),
    "train_neg_sample_args": mapping(nullable=True),
    "clip_grad_norm": mapping(nullable=True),
    "loss_type": text(*LOSS_TYPES, nullable=True),
}

# properties/overall.yaml (and default_dataset of the model yamls)
PACKAGE_SETTINGS = {
    "default_dataset": text(),
    "data_path": path(),
    "clean_field": text(),
    "clean_threshold": mapping(nullable=True),
    "ground_truth_fields": listing(text(), nullable=True),
    "clean_test": flag(),
    "clean_test_mask_noisy": flag(),
    "train_keep": mapping(nullable=True),
    "train_noise_ratio": number(0),
    "drop_rate": number(0, 1, high_open=True),
    "num_gradual": integer(0),
    "beta": number(0),
    "n_clips": integer(1),
    "quick_skip_seconds": number(0),
    "full_watch_ratio": number(0, low_open=True),
    "max_play_ratio": number(0, low_open=True, nullable=True),
    "clip_features": mapping(nullable=True),
    "own_items_eval": flag(),
    "own_items_label": text(nullable=True),
    "own_items_metrics": listing(text(), or_item=True),
    "own_items_ties": text(*TIE_POLICIES),
    "own_items_definition": text(*DEFINITIONS),
    "own_items_duration_buckets": integer(1),
    "resume_file": path(nullable=True),
    "trust_pickled_checkpoint": flag(),
    "lr_schedule": text(*LR_SCHEDULES, nullable=True, words="one of ~ (constant learning_rate) or cosine"),
    "lr_min": number(0, words="a number >= 0 (the final rate of lr_schedule: cosine)"),
    "dataset_class": text(nullable=True),
    "item_modalities": mapping(nullable=True),
    "missing_feature_fill": text(*MISSING_FEATURE_FILLS, nullable=True),
}

GENERAL_SETTINGS = {**RECBOLE_SETTINGS, **PACKAGE_SETTINGS}

# properties/model/<Model>.yaml, checked only when that model runs (a RecBole model may
# read a key of the same name differently: FRAME's mlp_hidden_size is one width,
# NeuMF's a list)
MODEL_SETTINGS = {
    "CDAE": {
        "embedding_size": integer(1),
        "hid_activation": text(*_ACTIVATIONS),
        "loss_type": text(*POINTWISE_LOSS_TYPES),
        "corruption_ratio": number(0, 1),
        "neg_ratio": integer(1),
        "reg_weight": number(0),
    },
    "DPSkipNet": {
        "embedding_size": integer(1),
        "bpr_weight": number(0, 1),
        "graphs": text(*GRAPHS),
        "bpr_negatives": text(*BPR_NEGATIVES),
        "video_features": text(),  # auto, none or an item modality of the dataset
        "duration_aware": flag(),
        "duration_buckets": integer(1),
    },
    "DUMN": {
        "LABEL_FIELD": text(),
        "feedback_fields": mapping(nullable=True),
        "feedback_events": text(nullable=True),
        "history_item_fields": listing(text(), nullable=True),
        "history_length": integer(1),
        "numerical_features": listing(text(), nullable=True),
        "embedding_size": integer(1),
        "n_heads": integer(1),
        "memory_slots": integer(1),
        "memory_size": integer(1),
        "controller_hidden_size": integer(1),
        "key_strength": number(0),
        "purification": flag(),
        "memory": text(*MEMORIES),
        "feedback": text(*FEEDBACKS),
        "pair": text(*PAIRS),
        "triplet_loss": flag(),
        "triplet_sampling": text(*TRIPLET_SAMPLINGS),
        "triplet_margin": number(0),
        "triplet_weight": number(0),
        "mlp_hidden_size": listing(integer(1)),
        "dropout_prob": number(0, 1, high_open=True),
    },
    "FRAME": {
        "embedding_size": integer(1),
        "mlp_hidden_size": integer(1),
        "visual_features": text(*VISUAL_FEATURES),
        "negative_clips": flag(),
        "tower_weights": listing(number(), length=2),
        "loss_weights": listing(number(0), length=2),
        "clip_layer_weights": listing(number(), length=2),
        "duration_aware": flag(),
        "duration_buckets": integer(1),
        "clip_weight_scheme": text(*CLIP_WEIGHT_SCHEMES),
    },
    "GMF": {"embedding_size": integer(1), "loss_type": text(*POINTWISE_LOSS_TYPES)},
    "GRCN": {
        "embedding_size": integer(1),
        "content_size": integer(1),
        "routing_iters": integer(0),
        "fusion": text(*FUSIONS),
        "pruning": text(*PRUNINGS),
        "representation": text(*REPRESENTATIONS),
        "modalities": listing(text(), nullable=True),
        "reg_weight": number(0),
    },
    "ItemCompletionRate": {"prior_views": number(0)},
    "GlobalRate": {"prior_samples": number(0)},
    "UserRate": {"prior_samples": number(0)},
    "ItemRate": {"prior_samples": number(0)},
    "ClickDIN": {
        "embedding_size": integer(1),
        "mlp_hidden_size": listing(integer(1)),
        "pooling_mode": text("mean", "max", "sum"),
        "dropout_prob": number(0, 1, high_open=True),
        "history_length": integer(1),
    },
    "NeuMF": {
        "mf_embedding_size": integer(1),
        "mlp_embedding_size": integer(1),
        "mlp_hidden_size": listing(integer(1)),
        "dropout_prob": number(0, 1),
        "loss_type": text(*POINTWISE_LOSS_TYPES),
    },
}


def settings_for(model):
    """``{key: Setting}`` that a run of ``model`` is checked against."""
    return {**GENERAL_SETTINGS, **MODEL_SETTINGS.get(model, {})}


def setting_problems(values, model, origin=lambda key: None):
    """One line per key of ``values`` that its Setting refuses: key, what is expected,
    the value and where it came from (``origin(key)``, e.g. ``the command line``)."""
    problems = []
    for key, setting in settings_for(model).items():
        if key in values and not setting.accepts(values[key]):
            source = origin(key)
            where = f" (from {source})" if source else ""
            problems.append(f"{key} must be {setting.expected()}, got {values[key]!r}{where}")
    return problems


def check_settings(values, model, origin=lambda key: None):
    """Raise one :class:`SettingError` naming every value of ``values`` that ``model``'s
    run cannot honour."""
    problems = setting_problems(values, model, origin)
    if problems:
        noun = "invalid setting" if len(problems) == 1 else f"{len(problems)} invalid settings"
        raise SettingError(f"{noun} for {model}:\n  " + "\n  ".join(problems)
                           + "\nSee properties/overall.yaml, properties/model/*.yaml and RecBole's "
                             "documentation for every key.")


# ---------------------------------------------------------------- unknown keys

# keys that arrive through the command line or RecBole's own plumbing; RecBole's Config
# reads every --key=value of sys.argv, so the options of recbole_denoise.hyper arrive too
ENTRY_KEYS = ("model", "dataset", "config_files", "config_file", "nproc", "world_size", "ip", "port",
              "offset", "group_offset", "local_rank",
              "params_file", "tool", "algo", "max_evals", "num_samples", "output_file")
_YAML_KEY = re.compile(r"^([A-Za-z_]\w*)\s*:", re.M)
_CODE_KEYS = (
    re.compile(r"config\w*\s*\[\s*[\"'](\w+)[\"']\s*\]"),
    re.compile(r"config\w*\.get\(\s*[\"'](\w+)[\"']"),
    re.compile(r"[\"'](\w+)[\"']\s+(?:not\s+)?in\s+[\w.]*config\b"),
    re.compile(r"_setting\(\s*config\s*,\s*[\"'](\w+)[\"']"),
)


def yaml_keys(folder):
    """Top-level keys of every yaml file under ``folder``."""
    keys = set()
    for yaml_file in folder.rglob("*.yaml"):
        keys.update(_YAML_KEY.findall(yaml_file.read_text(encoding="utf-8")))
    return keys


def code_keys(folder):
    """Config keys that the Python files under ``folder`` read by name."""
    keys = set()
    for source in folder.rglob("*.py"):
        body = source.read_text(encoding="utf-8")
        for pattern in _CODE_KEYS:
            keys.update(pattern.findall(body))
    return keys


@lru_cache(maxsize=1)
def static_known_keys():
    """Keys known whatever the dataset: RecBole's yaml files, argument lists and code,
    this package's yaml files, table and code."""
    keys = set(ENTRY_KEYS) | set(GENERAL_SETTINGS)
    for table in MODEL_SETTINGS.values():
        keys |= set(table)
    keys |= set(general_arguments + training_arguments + evaluation_arguments + dataset_arguments)
    keys |= yaml_keys(properties_dir()) | code_keys(catalog.PACKAGE_DIR)
    recbole_dir = catalog.recbole_package_dir()
    if recbole_dir is not None:
        keys |= yaml_keys(recbole_dir / "properties") | code_keys(recbole_dir)
    return frozenset(keys)


def unknown_keys(given, loaded_keys):
    """``{key: closest known key or None}`` for each key of ``given`` (the user's files,
    dict and command line) that neither ``loaded_keys`` (the yaml files this run loaded,
    the converted dataset's among them) nor :func:`static_known_keys` holds."""
    candidates = [key for key in given if key not in loaded_keys and key not in GENERAL_SETTINGS]
    if not candidates:
        return {}
    known = static_known_keys() | set(loaded_keys)
    found = {}
    for key in candidates:
        if key not in known:
            close = catalog.closest_names(key, known, limit=1)
            found[key] = close[0] if close else None
    return found


def unknown_key_message(key, value, closest):
    hint = f"did you mean {closest}?" if closest else "no known key looks like it"
    return (f"setting {key} = {value!r} is not read by recbole_denoise or RecBole, so it changes "
            f"nothing: {hint}")
