"""A group spec: which model variants run on which datasets with which seeds.

.. code-block:: yaml

    name: adt-ml-100k-quick          # optional; default: the file name without .yaml
    datasets: [ml-100k]              # names, or {name: ..., label: ..., config: {...}}; a label
                                     # tells apart two entries of one dataset (e.g. with noise)
    seeds: [2020, 2021, 2022]
    metrics: [recall@20, ndcg@20]    # report columns: test metrics, valid/<metric> (best validation),
                                     # denoising/<column> (last epoch's diagnostics)
    baseline: GMF CE                 # the row label the paired test compares against
    settings: {epochs: 10}           # config of every run (state: ERROR unless set here)
    config_files: []                 # yaml files of every run, as RecBole's --config_files
    tables:                          # optional: several tables from the same runs
      - title: GMF                   # heading of the table
        rows: [Popularity, GMF CE, GMF TCE]   # row labels (default: every variant)
        metrics: [recall@20]         # default: the spec's metrics
        baseline: GMF CE             # default: the spec's baseline when it is a row
        mark_best: true              # bold the best mean per column (default true)
    description: text under the report's heading (what is compared, the protocol)
    models:
      - Popularity                   # a model with the settings alone
      - model: GMF
        config: {embedding_size: 32} # config of every variant of this model
        variants:                    # label + config; row label "GMF CE" ("" : "GMF")
          - {label: CE, config: {loss_type: CE}}
          - {label: TCE, config: {loss_type: TCE}}

A run's config is layered: ``state: ERROR, show_progress: False``, then ``settings``,
the dataset's ``config``, the model's ``config``, the variant's ``config``, then
``seed``; ``checkpoint_dir`` is set per run by the runner (a folder of its own).
"""

import os
import re
from dataclasses import dataclass, field

import yaml

# what a run gets unless the spec says otherwise
RUN_DEFAULTS = {"state": "ERROR", "show_progress": False}
SPEC_KEYS = ("name", "datasets", "seeds", "metrics", "baseline", "settings", "config_files", "models",
             "smaller_is_better", "descriptive", "tables", "description")
TABLE_KEYS = ("title", "rows", "metrics", "baseline", "mark_best")
MODEL_KEYS = ("model", "label", "config", "variants")
VARIANT_KEYS = ("label", "config")
DATASET_KEYS = ("name", "label", "config")


class SpecError(ValueError):
    """A spec that cannot be run, with the file and what is wrong."""


@dataclass(frozen=True)
class Run:
    """One training and test: ``label`` (model variant) on ``dataset`` with ``seed``."""

    label: str
    model: str
    variant: str
    dataset: str
    seed: int
    config_dict: dict = field(hash=False)
    config_files: tuple = ()
    dataset_name: str = None  # the dataset to load when ``dataset`` is a label

    @property
    def data_name(self):
        """The dataset RecBole loads (``dataset`` is the report's label of it)."""
        return self.dataset_name or self.dataset

    @property
    def run_id(self):
        """File-name-safe id, unique in a spec: ``<dataset>__<label>__seed<seed>``."""
        return "__".join(slug(part) for part in (self.dataset, self.label, f"seed{self.seed}"))

    def inputs(self):
        """What decides the run's result (its saved file is reused only if these match)."""
        return {"model": self.model, "dataset": self.data_name, "config_files": list(self.config_files),
                "config_dict": self.config_dict}


@dataclass(frozen=True)
class Table:
    """One table of the report: ``rows`` (variant labels) x ``metrics``, paired tests
    against ``baseline`` (``None``: no tests), under ``title`` (``None``: no heading)."""

    title: str
    rows: tuple
    metrics: tuple
    baseline: str = None
    mark_best: bool = True  # bold the best mean per column (off for diagnostics, where no value is "best")


@dataclass
class Spec:
    name: str
    path: str
    datasets: list
    seeds: list
    metrics: list
    baseline: str
    labels: list  # row labels in spec order
    runs: list
    smaller_is_better: list = field(default_factory=list)
    descriptive: list = field(default_factory=list)  # columns without a test or a best
    tables: list = field(default_factory=list)
    description: str = ""


def slug(text):
    return re.sub(r"[^A-Za-z0-9.=+-]+", "_", str(text)).strip("_")


def load_spec(path):
    """The :class:`Spec` of the yaml file at ``path``; :class:`SpecError` names what is wrong."""
    try:
        with open(path, encoding="utf-8") as handle:
            raw = yaml.safe_load(handle)
    except (OSError, yaml.YAMLError) as error:
        raise SpecError(f"{path}: cannot read the spec: {error}") from error
    return parse_spec(raw, path)


def parse_spec(raw, path="<spec>"):
    def fail(message):
        raise SpecError(f"{path}: {message}")

    if not isinstance(raw, dict):
        fail("a spec is a mapping with keys " + ", ".join(SPEC_KEYS))
    _check_keys(raw, SPEC_KEYS, "the spec", fail)
    for key in ("datasets", "seeds", "models"):
        if not raw.get(key) or not isinstance(raw[key], list):
            fail(f"'{key}' must be a non-empty list")
    if not all(isinstance(seed, int) and not isinstance(seed, bool) for seed in raw["seeds"]):
        fail(f"'seeds' must be integers, got {raw['seeds']}")
    if len(set(raw["seeds"])) != len(raw["seeds"]):
        fail(f"'seeds' has duplicates: {raw['seeds']}")
    settings = _mapping(raw.get("settings"), "'settings'", fail)
    config_files = raw.get("config_files") or []
    if not isinstance(config_files, list):
        fail("'config_files' must be a list of yaml files")

    datasets = [_dataset(entry, fail) for entry in raw["datasets"]]
    variants = [variant for entry in raw["models"] for variant in _model_variants(entry, fail)]
    labels = [label for label, _, _, _ in variants]
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        fail(f"two model variants share the label {duplicates[0]!r}; give variants distinct labels")
    if len({slug(label) for label in labels}) != len(labels):
        fail(f"labels {labels} differ only in characters that file names drop; rename one")
    baseline = raw.get("baseline")
    if baseline is not None and baseline not in labels:
        fail(f"baseline {baseline!r} is not a model variant of the spec; labels: {', '.join(labels)}")
    metrics = raw.get("metrics") or []
    if not isinstance(metrics, list):
        fail("'metrics' must be a list, e.g. [recall@20, ndcg@20]")

    dataset_labels = [label for label, _, _ in datasets]
    if len(set(dataset_labels)) != len(dataset_labels):
        fail(f"datasets {dataset_labels} repeat a name; give repeated entries distinct 'label's")
    runs = []
    for dataset, dataset_name, dataset_config in datasets:
        for label, model, variant, model_config in variants:
            for seed in raw["seeds"]:
                config = dict(RUN_DEFAULTS, **settings)
                config.update(dataset_config)
                config.update(model_config)
                config["seed"] = seed
                runs.append(Run(label, model, variant, dataset, seed, config, tuple(config_files),
                                dataset_name if dataset_name != dataset else None))
    name = raw.get("name") or os.path.splitext(os.path.basename(path))[0]
    metrics = [str(m).lower() for m in metrics]
    tables = _tables(raw.get("tables"), labels, metrics, baseline, fail)
    return Spec(name=str(name), path=path, datasets=dataset_labels, seeds=list(raw["seeds"]),
                metrics=metrics, baseline=baseline, labels=labels, runs=runs,
                smaller_is_better=[str(m).lower() for m in raw.get("smaller_is_better") or []],
                descriptive=[str(m).lower() for m in raw.get("descriptive") or []],
                tables=tables, description=str(raw.get("description") or "").strip())


def _tables(entries, labels, metrics, baseline, fail):
    """The report's tables: each entry of ``tables``, or one table of every variant."""
    if entries is None:
        return [Table(None, tuple(labels), tuple(metrics), baseline)]
    if not isinstance(entries, list) or not entries:
        fail("'tables' must be a non-empty list of {title, rows, metrics, baseline}")
    tables = []
    for number, entry in enumerate(entries, 1):
        what = f"table {number}"
        if not isinstance(entry, dict):
            fail(f"{what} must be a mapping with keys {', '.join(TABLE_KEYS)}, got {entry!r}")
        _check_keys(entry, TABLE_KEYS, what, fail)
        rows = entry.get("rows") or labels
        unknown = [row for row in rows if row not in labels]
        if unknown:
            fail(f"{what} names rows {unknown} that are not model variants of the spec; labels: "
                 f"{', '.join(labels)}")
        table_metrics = [str(m).lower() for m in entry.get("metrics") or metrics]
        if not table_metrics:
            fail(f"{what} has no metrics: give 'metrics' to the table or to the spec")
        table_baseline = entry.get("baseline", baseline if baseline in rows else None)
        if table_baseline is not None and table_baseline not in rows:
            fail(f"{what} compares against baseline {table_baseline!r}, which is not one of its rows {rows}")
        mark_best = entry.get("mark_best", True)
        if not isinstance(mark_best, bool):
            fail(f"{what}: mark_best must be true or false, got {mark_best!r}")
        tables.append(Table(entry.get("title"), tuple(rows), tuple(table_metrics), table_baseline, mark_best))
    return tables


def _dataset(entry, fail):
    """``(label, name, config)`` of one ``datasets`` entry."""
    if isinstance(entry, str):
        return entry, entry, {}
    if not isinstance(entry, dict) or "name" not in entry:
        fail(f"a dataset is a name or {{name: ..., label: ..., config: {{...}}}}, got {entry!r}")
    _check_keys(entry, DATASET_KEYS, f"dataset {entry['name']!r}", fail)
    name = str(entry["name"])
    config = _mapping(entry.get("config"), f"the config of dataset {entry['name']!r}", fail)
    return str(entry.get("label") or name), name, config


def _model_variants(entry, fail):
    """``[(label, model, variant label, config), ...]`` of one ``models`` entry."""
    if isinstance(entry, str):
        return [(entry, entry, "", {})]
    if not isinstance(entry, dict) or not entry.get("model"):
        fail(f"a model is a name or {{model: ..., config: ..., variants: [...]}}, got {entry!r}")
    _check_keys(entry, MODEL_KEYS, f"model {entry['model']!r}", fail)
    model = str(entry["model"])
    base = _mapping(entry.get("config"), f"the config of model {model!r}", fail)
    label = str(entry.get("label") or model)
    if not entry.get("variants"):
        return [(label, model, "", base)]
    variants = []
    for variant in entry["variants"]:
        if not isinstance(variant, dict) or variant.get("label") is None:
            fail(f"a variant of {model} is {{label: ..., config: {{...}}}}, got {variant!r}")
        _check_keys(variant, VARIANT_KEYS, f"variant {variant['label']!r} of {model}", fail)
        config = dict(base, **_mapping(variant.get("config"), f"variant {variant['label']!r} of {model}", fail))
        # label "" is the model's own row (its defaults beside its ablations)
        row = f"{label} {variant['label']}" if str(variant["label"]) else label
        variants.append((row, model, str(variant["label"]), config))
    return variants


def _mapping(value, what, fail):
    if value is None:
        return {}
    if not isinstance(value, dict):
        fail(f"{what} must be a mapping of config keys, got {value!r}")
    if "checkpoint_dir" in value:
        fail(f"{what} sets checkpoint_dir: every run gets a folder of its own under the output folder")
    if "seed" in value:
        fail(f"{what} sets seed: list the seeds under 'seeds'")
    return dict(value)


def _check_keys(mapping, allowed, what, fail):
    unknown = [key for key in mapping if key not in allowed]
    if unknown:
        fail(f"{what} has unknown key(s) {', '.join(map(str, unknown))}; allowed: {', '.join(allowed)}")
