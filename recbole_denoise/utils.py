"""recbole_denoise.utils
#########################
Registry and plumbing: look in this package first, then fall back to RecBole, so the
two feel like one library (the pattern of RecBole-GNN's ``utils``).
"""

import importlib
import os
import pickle
from logging import getLogger
from pathlib import Path

import torch
from recbole.data.utils import create_dataset as create_recbole_dataset
from recbole.utils import ModelType, set_color
from recbole.utils import get_model as get_recbole_model
from recbole.utils import get_trainer as get_recbole_trainer

from recbole_denoise import catalog

PACKAGE_DIR = Path(__file__).resolve().parent

MODEL_SUBMODULES = ("general_recommender", "context_aware_recommender")

# loss_type values that the DenoiseTrainer understands (see recbole_denoise.loss)
DENOISE_LOSS_TYPES = ("CE", "TCE", "RCE", "BPR", "TBPR", "RBPR")
# those that only the DenoiseTrainer can honour (CE and BPR are also plain training)
DENOISING_ONLY_LOSS_TYPES = ("TCE", "RCE", "TBPR", "RBPR")


def properties_dir():
    """The ``properties/`` folder: inside the installed package, or at the repo root."""
    for candidate in (PACKAGE_DIR / "properties", PACKAGE_DIR.parent / "properties"):
        if (candidate / "overall.yaml").is_file():
            return candidate
    raise FileNotFoundError(
        f"recbole_denoise cannot find its properties/overall.yaml under {PACKAGE_DIR} "
        f"or {PACKAGE_DIR.parent}; reinstall the package"
    )


def bundled_dataset_dirs():
    """Folders that hold datasets shipped with the package (repo root or installed)."""
    return [PACKAGE_DIR / "dataset", PACKAGE_DIR.parent / "dataset"]


def find_dataset_dir(data_path, dataset):
    """``<data_path>/<dataset>`` if it exists, else a bundled copy, else ``None``."""
    user_dir = Path(data_path) / dataset
    if user_dir.is_dir():
        return str(user_dir)
    for root in bundled_dataset_dirs():
        if (root / dataset).is_dir():
            return str(root / dataset)
    return None


def default_dataset(model_name, fallback="ml-100k"):
    """The ``default_dataset`` of ``properties/model/<Model>.yaml``, else ``fallback``."""
    import yaml

    path = properties_dir() / "model" / f"{model_name}.yaml"
    if path.is_file():
        with open(path, encoding="utf-8") as handle:
            return (yaml.safe_load(handle) or {}).get("default_dataset", fallback)
    return fallback


def _find_module(package, submodules, name):
    for submodule in submodules:
        module_path = ".".join([package, submodule, name.lower()])
        if importlib.util.find_spec(module_path) is not None:
            return importlib.import_module(module_path)
    return None


def get_model(model_name):
    """Model class by name: this package's models first, then RecBole's. An unknown name
    is a ``ValueError`` that lists the names that exist (and the closest ones)."""
    module = _find_module("recbole_denoise.model", MODEL_SUBMODULES, model_name)
    if module is not None and hasattr(module, model_name):  # "gmf" finds gmf.py, which has GMF
        return getattr(module, model_name)
    if model_name not in catalog.recbole_model_names_flat():
        raise ValueError(catalog.unknown_model_message(model_name))
    try:
        return get_recbole_model(model_name)
    except (ValueError, ImportError) as error:
        # RecBole's lookup imports its optional lightgbm / xgboost wrappers on the way
        raise ValueError(
            f"model [{model_name}] is a RecBole model that cannot be loaded here "
            f"({type(error).__name__}: {error})"
        ) from error


def get_trainer(model_type, model_name, config=None):
    """Trainer class by model name and type: this package's, then RecBole's.

    Order: ``recbole_denoise.trainer.<Model>Trainer``; the ``DenoiseTrainer`` for a
    general or context-aware model trained with an ADT ``loss_type`` (CE, TCE, RCE,
    BPR, TBPR, RBPR) that RecBole gives no trainer of its own; otherwise RecBole's
    choice. Every class returned writes checkpoints that load with
    ``torch.load(weights_only=True)``. A denoising ``loss_type`` (TCE, RCE, TBPR,
    RBPR) that the chosen trainer would not apply is an error.
    """
    trainer_module = importlib.import_module("recbole_denoise.trainer")
    own = getattr(trainer_module, model_name + "Trainer", None)
    if own is not None:
        return own
    loss_type = config["loss_type"] if config is not None else None
    recbole_trainer = get_recbole_trainer(model_type, model_name)
    uses_generic_trainer = recbole_trainer.__name__ == "Trainer"
    denoisable_type = model_type in (ModelType.GENERAL, ModelType.CONTEXT)
    if loss_type in DENOISE_LOSS_TYPES and denoisable_type and uses_generic_trainer:
        return trainer_module.DenoiseTrainer
    if loss_type in DENOISING_ONLY_LOSS_TYPES:
        if not denoisable_type:
            why = (f"it is a {model_type.name} model, and the DenoiseTrainer trains general "
                   f"and context-aware models only")
        else:
            why = (f"RecBole trains it with its own {recbole_trainer.__name__}, which computes "
                   f"the loss itself, so the DenoiseTrainer cannot apply the ADT losses")
        raise ValueError(f"loss_type {loss_type!r} cannot be honoured for model {model_name}: "
                         f"{why}. Train it without a denoising loss_type (~, CE or BPR)")
    return trainer_module.with_safe_checkpoints(recbole_trainer)


def create_dataset(config):
    """Dataset for ``config['model']``, most specific first: ``<Model>Dataset`` of this
    package; the dataset's own ``dataset_class`` (a converter writes e.g.
    ``WatchTimeDataset`` into its yaml) when it refines the model's ``dataset_class``
    or the model names none (so RecBole's BPR or Random run on watch-time data too);
    the model's ``dataset_class``; ``DenoiseDataset`` for general and context-aware
    models; else RecBole's choice."""
    dataset_module = importlib.import_module("recbole_denoise.data.dataset")
    dataset_class = getattr(dataset_module, config["model"] + "Dataset", None)
    if dataset_class is None:
        model_wants = getattr(get_model(config["model"]), "dataset_class", None)
        data_wants = _named_dataset_class(config["dataset_class"])
        if data_wants is not None and (model_wants is None or issubclass(data_wants, model_wants)):
            dataset_class = data_wants
        else:
            dataset_class = model_wants
    if dataset_class is None and config["MODEL_TYPE"] in (
        ModelType.GENERAL,
        ModelType.CONTEXT,
        ModelType.TRADITIONAL,
        ModelType.DECISIONTREE,
    ):
        dataset_class = dataset_module.DenoiseDataset
    if dataset_class is None:
        return create_recbole_dataset(config)
    dataset = dataset_class(config)
    if config["save_dataset"]:
        dataset.save()
    return dataset


DATASET_MODULES = ("recbole_denoise.data.dataset", "recbole_denoise.data.watch_time_dataset",
                   "recbole_denoise.data.feedback_dataset")


def _named_dataset_class(name):
    """The dataset class called ``name`` in this package (``None`` for no name)."""
    if not name:
        return None
    for module_path in DATASET_MODULES:
        found = getattr(importlib.import_module(module_path), name, None)
        if found is not None:
            return found
    raise ValueError(f"dataset_class [{name}] is not a dataset class of recbole_denoise "
                     f"(looked in {', '.join(DATASET_MODULES)})")


def load_checkpoint(path, device="cpu", trust_pickle=False):
    """Load a checkpoint written by this package's trainers.

    They hold only tensors and plain Python values, so ``weights_only=True`` works
    and no arbitrary object is unpickled. A checkpoint written by RecBole itself
    pickles its ``Config``; it loads only with ``trust_pickle=True`` (config key
    ``trust_pickled_checkpoint``), because unpickling can run code.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as error:  # a foreign object in the file
        if not trust_pickle:
            raise RuntimeError(
                f"checkpoint {path} holds pickled Python objects, so it was not "
                f"written by recbole_denoise (or it is corrupt): {error}. Load it only "
                f"if you trust its source, with trust_pickled_checkpoint=True"
            ) from error
    getLogger().warning(
        set_color("Loading pickled checkpoint (trusted by config)", "red") + f": {path}"
    )
    return torch.load(path, map_location=device, weights_only=False)


def ensure_parent_dir(path):
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)


def data_preparation(config, dataset):
    """Split ``dataset`` and build the train / valid / test dataloaders.

    RecBole's ``data_preparation`` plus the ADT clean-test protocol: when the dataset
    carries a clean flag and ``clean_test`` is on, the test split keeps only clean
    interactions, while training and validation keep every interaction. With
    ``clean_test_mask_noisy: False`` (the paper's protocol) a false-positive test
    interaction is an ordinary non-relevant item in the ranking; with ``True`` it is
    masked out of the ranking like a training positive.
    """
    from recbole.data.utils import create_samplers, get_dataloader
    from recbole.data.utils import data_preparation as recbole_data_preparation

    if config["MODEL_TYPE"] == ModelType.KNOWLEDGE:
        return recbole_data_preparation(config, dataset)

    train_set, valid_set, test_set = dataset.build()
    if config["train_keep"]:
        train_set = keep_training_rows(train_set, config["train_keep"])
    if config["train_noise_ratio"]:
        from recbole_denoise.data.noise import inject_random_interactions

        (train_set, valid_set, test_set), added = inject_random_interactions(
            dataset, (train_set, valid_set, test_set), config["train_noise_ratio"], config["seed"])
        getLogger().info(set_color("injected noise", "red") + f": {added} random training interactions (clean = 0)")
    apply_clean_test = config["clean_test"] and getattr(dataset, "has_clean_flag", False)
    mask_noisy = bool(config["clean_test_mask_noisy"])
    if apply_clean_test and not mask_noisy:
        test_set = keep_clean_interactions(test_set)
    samplers = create_samplers(config, dataset, [train_set, valid_set, test_set])
    if apply_clean_test and mask_noisy:
        test_set = keep_clean_interactions(test_set)
    train_sampler, valid_sampler, test_sampler = samplers

    model_class = get_model(config["model"])
    train_loader = getattr(model_class, "train_loader", None) or get_dataloader(config, "train")
    train_data = train_loader(config, train_set, train_sampler, shuffle=config["shuffle"])
    valid_data = get_dataloader(config, "valid")(config, valid_set, valid_sampler, shuffle=False)
    test_data = get_dataloader(config, "test")(config, test_set, test_sampler, shuffle=False)
    getLogger().info(
        set_color("[Training]: ", "pink")
        + f"train_batch_size = [{config['train_batch_size']}] "
        f"train_neg_sample_args: [{config['train_neg_sample_args']}]"
    )
    getLogger().info(
        set_color("[Evaluation]: ", "pink")
        + f"eval_batch_size = [{config['eval_batch_size']}] eval_args: [{config['eval_args']}]"
    )
    return train_data, valid_data, test_data


def keep_training_rows(split, rule):
    """The training split without the rows below ``rule`` = ``{field: minimum}`` (e.g.
    ``{full_watch: 1}``: a video-level baseline trained on full watches only, while
    validation and test keep every row)."""
    if not isinstance(rule, dict) or len(rule) != 1:
        raise ValueError(f"train_keep must be one {{field: minimum}} pair, got {rule!r}")
    (field, minimum), = rule.items()
    if field not in split.inter_feat:
        raise ValueError(f"train_keep names field [{field}], which the training split does not have "
                         f"(fields: {list(split.inter_feat.columns)})")
    mask = split.inter_feat[field] >= minimum
    getLogger().info(set_color("train_keep", "blue") + f": training keeps {int(mask.sum())} of "
                     f"{len(mask)} rows with {field} >= {minimum}")
    kept = split.copy(split.inter_feat[torch.nonzero(mask).squeeze(1)])
    # what the training split is, for statistics that describe it rather than the model's
    # rows (the duration metrics' buckets)
    kept.whole_training_split = split
    return kept


def keep_clean_interactions(split):
    """The same split with its false-positive interactions removed (logged)."""
    mask = split.clean_mask()
    kept = split.copy(split.inter_feat[torch.nonzero(mask).squeeze(1)])
    getLogger().info(
        set_color("clean-test protocol", "blue")
        + f": test keeps {int(mask.sum())} of {len(mask)} interactions "
        f"({len(mask) - int(mask.sum())} false positives removed)"
    )
    return kept
