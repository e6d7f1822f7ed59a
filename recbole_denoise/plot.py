"""Figures of a run's output, as PNG files (matplotlib, Agg backend: no display needed).

    python -m recbole_denoise.plot training   saved/GMF-<time>.pth            --out figures
    python -m recbole_denoise.plot denoising  saved/GMF-<time>-denoising.csv  --out figures
    python -m recbole_denoise.plot grcn-edges saved/GRCN-<time>.pth           --out figures
    python -m recbole_denoise.plot frame-clips saved/FRAME-<time>.pth         --out figures
    python -m recbole_denoise.plot group      results.csv                     --out figures
    python -m recbole_denoise.plot saved/GMF-<time>.pth --out figures   # every figure the run has

- ``training``: training loss and validation metrics per epoch, from the resume point
  ``<run>-resume.pth`` (``train_loss``, ``valid_history``; a best-model file is read
  through its resume point when one exists beside it).
- ``denoising``: what T-CE / T-BPR dropped per epoch, from ``<run>-denoising.csv``
  (``DenoisingDiagnostics``): drop precision and recall against the known false
  positives beside dropping at random (ADT Fig. 9), and the mean loss of clean vs
  false-positive interactions (ADT Fig. 3, 7).
- ``grcn-edges``: distributions of GRCN's learned edge weights, injected
  (``train_noise_ratio``, ``clean = 0``) vs original training edges, each relative to
  the mean weight at its node (:func:`relative_edge_weights`). From a GRCN checkpoint
  (the model and its dataset are rebuilt from the checkpoint's config; the histogram
  counts are also written as ``<name>-grcn-edges.json``) or from that json.
- ``frame-clips``: FRAME's mean clip score by clip position, for views watched to the
  end vs skipped (``model.clip_scores``), over a split's views (``--split``). From a
  FRAME checkpoint (also writes ``<name>-frame-clips.json``) or from that json.
- ``group``: a comparison of models with error bars (one standard deviation), from a
  csv with columns ``model, dataset, metric, mean, std`` (one row per model, dataset and
  metric; one panel per dataset and metric, models in the file's order), such as the
  group runner's ``report.csv`` (its ``label`` column names the bars).

Each ``*_series`` / ``*_summary`` function returns the numbers a figure shows, so they
can be checked without reading pixels.
"""

import argparse
import contextlib
import csv
import json
import math
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from recbole_denoise.trainer.checkpoint import resume_file_for  # noqa: E402
from recbole_denoise.utils import load_checkpoint  # noqa: E402

SUBCOMMANDS = ("training", "denoising", "grcn-edges", "frame-clips", "group", "run")
GROUP_COLUMNS = ("model", "dataset", "metric", "mean", "std")
FIGURE_DPI = 80  # small PNGs (the README's figures)


# ------------------------------------------------------------------ inputs


def run_stem(path):
    """The run's name of an output file: ``saved/GMF-Dec-03-2026_00-10-00-resume.pth`` ->
    ``GMF-Dec-03-2026_00-10-00``."""
    name = os.path.basename(path)
    for suffix in ("-resume.pth", "-denoising.csv", "-grcn-edges.json", "-frame-clips.json", ".pth", ".csv",
                   ".json"):
        if name.endswith(suffix):
            return name[:-len(suffix)]
    return os.path.splitext(name)[0]


def training_checkpoint(path):
    """The checkpoint holding the most epochs of a run: ``path``'s resume point when
    ``path`` is a best-model file with one beside it (the best model stops at its epoch)."""
    if not path.endswith("-resume.pth") and os.path.isfile(resume_file_for(path)):
        return resume_file_for(path)
    return path


def denoising_csv(path):
    """``<run>-denoising.csv`` of a run output (the csv itself, or a checkpoint of the run)."""
    if path.endswith(".csv"):
        return path
    root, _ = os.path.splitext(path)
    if root.endswith("-resume"):
        root = root[:-len("-resume")]
    return f"{root}-denoising.csv"


# ------------------------------------------------------------------ data behind the figures


def _number(value):
    """A float, NaN for an empty cell or ``None`` (a ratio with nothing to divide)."""
    if value is None or value == "" or value == "None":
        return math.nan
    return float(value)


def training_series(checkpoint):
    """Per-epoch training loss and validation results of a checkpoint's dict:
    ``epochs`` and ``loss`` (a multi-part loss summed, as RecBole's tensorboard does;
    its parts in ``loss_parts``), ``valid_epochs``, ``valid_score`` and ``valid`` (each
    validation metric's values), ``valid_metric``, ``title``."""
    config = checkpoint.get("config", {})
    train = sorted((int(epoch), loss) for epoch, loss in checkpoint.get("train_loss", []))
    parts = [list(loss) if isinstance(loss, (list, tuple)) else [loss] for _, loss in train]
    history = sorted(checkpoint.get("valid_history", []), key=lambda entry: entry[0])
    metrics = list(history[0][2]) if history else []
    title = " ".join(str(part) for part in (config.get("model"), config.get("dataset")) if part)
    if config.get("loss_type"):
        title += f" ({config['loss_type']})"
    return {
        "title": title,
        "epochs": [epoch for epoch, _ in train],
        "loss": [float(sum(float(x) for x in p)) for p in parts],
        "loss_parts": [[float(x) for x in p] for p in parts] if any(len(p) > 1 for p in parts) else [],
        "valid_epochs": [int(entry[0]) for entry in history],
        "valid_score": [float(entry[1]) for entry in history],
        "valid": {metric: [_number(entry[2].get(metric)) for entry in history] for metric in metrics},
        "valid_metric": str(config.get("valid_metric", "valid score")).lower(),
    }


def denoising_series(csv_path):
    """The columns of a ``-denoising.csv`` as lists (``epoch`` as ints, the rest as
    floats, NaN where the trainer wrote nothing: no drop, no false positive)."""
    with open(csv_path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        raise ValueError(f"{csv_path} holds no epoch")
    series = {column: [_number(row[column]) for row in rows] for column in rows[0] if column != "epoch"}
    series["epoch"] = [int(row["epoch"]) for row in rows]
    return series


def relative_edge_weights(weights):
    """Each edge's weight over the mean weight of the edges it was normalised with (the
    softmax runs over a user's items for ``item_to_user`` and over an item's users for
    ``user_to_item``). Raw weights shrink with degree, so raw values compare degrees,
    not trust (as ``benchmarks/grcn_edge_weights.py`` reports them)."""
    relative = {}
    for key, node in (("item_to_user", weights["user"]), ("user_to_item", weights["item"])):
        values = weights[key].float()
        total = torch.zeros(int(node.max()) + 1).index_add(0, node, values)
        degree = torch.bincount(node).float()
        relative[key] = values / (total / degree.clamp(min=1))[node]
    return relative


def grcn_edge_summary(relative, injected, bins=40):
    """Histograms of relative edge weights, injected vs original edges, per direction:
    ``{direction: {bins, injected, original, mean_injected, mean_original, n_injected,
    n_original}}``. The bins are common to both, spaced evenly in log scale between the
    0.5th and 99.5th percentiles of the positive weights; weights outside fall in the
    first or last bin (a weight of 0, pruned by ``pruning: hard``, in the first)."""
    injected = torch.as_tensor(injected, dtype=torch.bool).numpy()
    summary = {}
    for key, values in relative.items():
        values = values.detach().double().numpy()
        positive = values[values > 0]
        low, high = (np.quantile(positive, [0.005, 0.995]) if len(positive) else (1.0, 1.0))
        high = max(high, low * 1.001)
        edges = np.geomspace(low, high, bins + 1)
        clipped = np.clip(values, edges[0], edges[-1])
        part = {"bins": edges.tolist()}
        for name, mask in (("injected", injected), ("original", ~injected)):
            part[name] = np.histogram(clipped[mask], bins=edges)[0].tolist()
            part[f"mean_{name}"] = float(values[mask].mean()) if mask.any() else None
            part[f"n_{name}"] = int(mask.sum())
        summary[key] = part
    return summary


def frame_clip_profile(scores, full_watch):
    """Mean clip score at each clip position over the views watched to the end and over
    the skipped ones: ``{positions, full, skip, n_full, n_skip}`` (``scores``:
    ``[n_views, N_c]``; ``full_watch``: ``[n_views]``, 1 for a full watch)."""
    scores = np.asarray(scores, dtype=np.float64)
    full = np.asarray(full_watch) > 0.5
    mean = lambda rows: rows.mean(0).tolist() if len(rows) else [math.nan] * scores.shape[1]  # noqa: E731
    return {"positions": list(range(1, scores.shape[1] + 1)), "full": mean(scores[full]),
            "skip": mean(scores[~full]), "n_full": int(full.sum()), "n_skip": int((~full).sum())}


def group_rows(csv_path):
    """The rows of a group csv (columns ``model, dataset, metric, mean, std``) with
    ``mean`` and ``std`` as floats (an empty ``std``: 0). A ``label`` column, as in the
    group runner's ``report.csv`` (``python -m recbole_denoise.group``), names the bars
    instead of ``model`` (variants of one model); a row without a mean (a failed run) is
    left out, and so is a repeat of a (label, dataset, metric) row (the report repeats a
    row in each of its tables); other columns are ignored."""
    with open(csv_path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [column for column in GROUP_COLUMNS if column not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{csv_path}: a group csv needs the columns {', '.join(GROUP_COLUMNS)}; "
                             f"missing {', '.join(missing)}")
        rows, seen = [], set()
        for row in reader:
            name = row.get("label") or row["model"]
            key = (name, row["dataset"], row["metric"])
            if row["mean"] in ("", None) or key in seen:  # a failed run; a row repeated by another table
                continue
            seen.add(key)
            rows.append({"model": name, "dataset": row["dataset"], "metric": row["metric"],
                         "mean": float(row["mean"]), "std": float(row["std"] or 0.0)})
    if not rows:
        raise ValueError(f"{csv_path} holds no row with a mean")
    return rows


def group_panels(rows):
    """``[((dataset, metric), [(model, mean, std), ...]), ...]`` in the order of first appearance."""
    panels = {}
    for row in rows:
        panels.setdefault((row["dataset"], row["metric"]), []).append((row["model"], row["mean"], row["std"]))
    return list(panels.items())


# ------------------------------------------------------------------ models rebuilt from checkpoints


@contextlib.contextmanager
def _own_argv():
    """RecBole's ``Config`` reads ``--key=value`` from ``sys.argv``: not this command's options."""
    saved = sys.argv
    sys.argv = saved[:1]
    try:
        yield
    finally:
        sys.argv = saved


# keys of a saved final config that RecBole derives from the others (or from the machine)
_DERIVED_KEYS = ("model", "dataset", "device", "gpu_id", "local_rank", "single_spec", "resume_file", "MODEL_TYPE",
                 "MODEL_INPUT_TYPE", "eval_type", "valid_neg_sample_args", "test_neg_sample_args")


def model_from_checkpoint(path, expected_model, overrides=None):
    """``(model, (train, valid, test))``: the checkpoint's model with its weights, over the
    dataset rebuilt from the checkpoint's config (same seed, so the same split and
    injected edges)."""
    from recbole.utils import init_seed

    from recbole_denoise.config import Config
    from recbole_denoise.quick_start import prepare
    from recbole_denoise.runtime import quiet_known_warnings

    quiet_known_warnings()
    checkpoint = load_checkpoint(path)
    saved = checkpoint["config"]
    if str(saved.get("model")).lower() != expected_model.lower():
        raise ValueError(f"{path} is a checkpoint of {saved.get('model')}, not of {expected_model}")
    keep = {key: value for key, value in saved.items() if key not in _DERIVED_KEYS}
    negatives = keep.get("train_neg_sample_args")
    if isinstance(negatives, dict) and negatives.get("distribution") == "none":
        keep["train_neg_sample_args"] = None  # RecBole's form of "no negative sampling", before it derives
    data_path = str(saved.get("data_path") or "")
    if os.path.basename(os.path.normpath(data_path)) == str(saved["dataset"]):
        keep["data_path"] = os.path.dirname(os.path.normpath(data_path))  # RecBole appends the dataset name
    keep.update({"state": "ERROR", "show_progress": False, "use_gpu": False}, **(overrides or {}))
    with _own_argv():
        config = Config(model=saved["model"], dataset=saved["dataset"], config_dict=keep)
        init_seed(config["seed"], config["reproducibility"])
        _, loaders, model, _ = prepare(config)
    model.load_state_dict(checkpoint["state_dict"])
    model.load_other_parameter(checkpoint.get("other_parameter"))
    model.eval()
    return model, loaders


@torch.no_grad()
def grcn_edges_from_checkpoint(path, bins=40):
    """:func:`grcn_edge_summary` of a GRCN checkpoint's learned weights; injected edges
    are the training rows flagged ``clean = 0`` (none when the run injected no noise)."""
    model, (train, _, _) = model_from_checkpoint(path, "GRCN")
    weights = model.edge_weights()
    inter = train._dataset.inter_feat
    uid, iid = train._dataset.uid_field, train._dataset.iid_field
    injected = torch.zeros(len(weights["user"]), dtype=torch.bool)
    if "clean" in inter:
        flag = dict(zip(zip(inter[uid].tolist(), inter[iid].tolist()), inter["clean"].tolist()))
        injected = torch.tensor([flag.get(pair, 1) == 0 for pair in zip(weights["user"].tolist(),
                                                                        weights["item"].tolist())])
    summary = grcn_edge_summary(relative_edge_weights(weights), injected, bins)
    summary["source"] = path
    return summary


@torch.no_grad()
def frame_clips_from_checkpoint(path, split="test"):
    """:func:`frame_clip_profile` of a FRAME checkpoint over the views of a split."""
    model, loaders = model_from_checkpoint(path, "FRAME")
    dataset = loaders[("train", "valid", "test").index(split)].dataset
    inter = dataset.inter_feat
    scores, _ = model.clip_scores(inter[dataset.uid_field].to(model.device), inter[dataset.iid_field].to(model.device))
    profile = frame_clip_profile(scores.cpu().numpy(), inter["full_watch"].numpy())
    profile.update(source=path, split=split)
    return profile


# ------------------------------------------------------------------ figures


def _integer_epochs(figure):
    for axis in figure.axes:
        if axis.get_xlabel() == "epoch":
            axis.xaxis.set_major_locator(MaxNLocator(integer=True))


def _save(figure, path):
    _integer_epochs(figure)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=FIGURE_DPI)
    plt.close(figure)
    return path


def training_metrics(series, metrics=None):
    """The validation metrics to draw: ``metrics`` (names, any case), every one validated
    for ``["all"]``, the ``valid_metric`` by default; an unknown name is a ``ValueError``."""
    if not metrics:
        return [series["valid_metric"]] if series["valid_metric"] in series["valid"] else list(series["valid"])
    if [metric.lower() for metric in metrics] == ["all"]:
        return list(series["valid"])
    wanted = [metric.lower() for metric in metrics]
    unknown = [metric for metric in wanted if metric not in series["valid"]]
    if unknown:
        raise ValueError(f"no validation metric {', '.join(unknown)}; the run validated {', '.join(series['valid'])}")
    return wanted


def plot_training(series, path, metrics=None):
    """Training loss and, per validation, the metrics named (default: the ``valid_metric``
    that selects the best model; ``["all"]``: every metric validated)."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4))
    left.plot(series["epochs"], series["loss"], marker="o", label="total")
    for index, part in enumerate(zip(*series["loss_parts"])):
        left.plot(series["epochs"], part, linestyle="--", label=f"part {index + 1}")
    left.set(title="training loss", xlabel="epoch", ylabel="loss")
    if series["loss_parts"]:
        left.legend()
    if series["valid_epochs"]:
        for metric in training_metrics(series, metrics):
            values = series["valid"][metric]
            main = metric == series["valid_metric"]
            right.plot(series["valid_epochs"], values, marker="o" if main else None, linewidth=2 if main else 1,
                       alpha=1 if main else 0.6, label=metric)
        right.legend(fontsize="small")
    else:
        right.text(0.5, 0.5, "no validation recorded", ha="center", va="center", transform=right.transAxes)
    right.set(title=f"validation (best model by {series['valid_metric']})", xlabel="epoch")
    figure.suptitle(series["title"])
    return _save(figure, path)


def plot_denoising(series, path, title=""):
    figure, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    epochs = series["epoch"]
    for axis, (label, ours, random) in zip(axes[:2], (("precision", "drop_precision", "random_precision"),
                                                      ("recall", "drop_recall", "random_recall"))):
        axis.plot(epochs, series[ours], marker="o", label="dropped by the loss")
        axis.plot(epochs, series[random], linestyle="--", label="dropped at random")
        axis.set(title=f"drop {label} (false positives)", xlabel="epoch", ylabel=label)
        if all(math.isnan(value) for value in series[ours]):
            axis.text(0.5, 0.5, "nothing dropped", ha="center", va="center", transform=axis.transAxes)
        axis.legend(fontsize="small")
    axes[2].plot(epochs, series["ce_clean"], marker="o", label="clean")
    axes[2].plot(epochs, series["ce_noisy"], marker="s", label="false positive")
    axes[2].set(title="mean training loss", xlabel="epoch", ylabel="loss")
    axes[2].legend(fontsize="small")
    figure.suptitle(title)
    return _save(figure, path)


def plot_grcn_edges(summary, path):
    directions = [key for key in ("item_to_user", "user_to_item") if key in summary]
    figure, axes = plt.subplots(1, len(directions), figsize=(4.5 * len(directions), 3.4), squeeze=False)
    for axis, key in zip(axes[0], directions):
        part = summary[key]
        edges = np.asarray(part["bins"])
        for name in ("original", "injected"):
            counts = np.asarray(part[name], dtype=float)
            if counts.sum() == 0:
                continue
            label = f"{name} ({part[f'n_{name}']}, mean {part[f'mean_{name}']:.2f})"
            axis.stairs(counts / counts.sum(), edges, label=label)
        axis.axvline(1.0, color="grey", linewidth=0.8, linestyle=":")
        axis.set_xscale("log")
        axis.set(title=key.replace("_", " "), xlabel="edge weight / mean at its node", ylabel="share of edges")
        axis.legend(fontsize="small")
    figure.suptitle("GRCN learned edge weights")
    return _save(figure, path)


def plot_frame_clips(profile, path):
    figure, axis = plt.subplots(figsize=(4.8, 3.4))
    axis.plot(profile["positions"], profile["full"], marker="o", label=f"watched to the end ({profile['n_full']})")
    axis.plot(profile["positions"], profile["skip"], marker="s", label=f"skipped ({profile['n_skip']})")
    axis.set(title=f"FRAME clip scores ({profile.get('split', '')} views)", xlabel="clip position",
             ylabel="mean clip score", xticks=profile["positions"])
    axis.legend(fontsize="small")
    return _save(figure, path)


def plot_group(rows, path):
    panels = group_panels(rows)
    columns = min(3, len(panels))
    lines = math.ceil(len(panels) / columns)
    figure, axes = plt.subplots(lines, columns, figsize=(4.2 * columns, 3.4 * lines), squeeze=False)
    for axis, ((dataset, metric), bars) in zip(axes.ravel(), panels):
        names, means, stds = zip(*bars)
        axis.bar(range(len(names)), means, yerr=stds, capsize=4, color="C0", alpha=0.8)
        axis.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize="small")
        axis.set(title=f"{dataset}: {metric}", ylabel=metric)
    for axis in axes.ravel()[len(panels):]:
        axis.set_visible(False)
    return _save(figure, path)


# ------------------------------------------------------------------ command line


def _write_json(data, path):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as handle:
        json.dump(data, handle)
    return path


def make_figure(kind, source, out, name=None, bins=40, split="test", metrics=None):
    """Write the ``kind`` figure of ``source`` into the folder ``out``; returns the paths written."""
    name = name or run_stem(source)
    target = os.path.join(out, f"{name}-{kind}.png")
    if kind == "training":
        checkpoint = load_checkpoint(training_checkpoint(source))
        return [plot_training(training_series(checkpoint), target, metrics)]
    if kind == "denoising":
        return [plot_denoising(denoising_series(denoising_csv(source)), target, title=name)]
    if kind in ("grcn-edges", "frame-clips"):
        written = []
        if source.endswith(".json"):
            with open(source) as handle:
                data = json.load(handle)
        else:
            data = grcn_edges_from_checkpoint(source, bins) if kind == "grcn-edges" \
                else frame_clips_from_checkpoint(source, split)
            written.append(_write_json(data, os.path.join(out, f"{name}-{kind}.json")))
        plotter = plot_grcn_edges if kind == "grcn-edges" else plot_frame_clips
        return [plotter(data, target)] + written
    if kind == "group":
        return [plot_group(group_rows(source), target)]
    raise ValueError(f"unknown figure {kind!r}")


def run_figures(source, out, name=None, bins=40, split="test", metrics=None):
    """Every figure a run's output supports: training; denoising when its csv exists;
    GRCN's edges or FRAME's clips for a checkpoint of those models."""
    kinds = ["training"]
    if os.path.isfile(denoising_csv(source)):
        kinds.append("denoising")
    model = str(load_checkpoint(training_checkpoint(source))["config"].get("model", "")).lower()
    kinds += {"grcn": ["grcn-edges"], "frame": ["frame-clips"]}.get(model, [])
    written = []
    for kind in kinds:
        written += make_figure(kind, source, out, name=name, bins=bins, split=split, metrics=metrics)
    return written


def parse_args(argv):
    if argv and argv[0] not in SUBCOMMANDS and not argv[0].startswith("-"):
        argv = ["run"] + list(argv)  # python -m recbole_denoise.plot <run output>
    parser = argparse.ArgumentParser(prog="python -m recbole_denoise.plot", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="kind", required=True)
    inputs = {
        "training": "a checkpoint of the run (its -resume.pth, or the best model beside it)",
        "denoising": "the run's -denoising.csv (or a checkpoint of the run)",
        "grcn-edges": "a GRCN checkpoint, or the -grcn-edges.json this command wrote",
        "frame-clips": "a FRAME checkpoint, or the -frame-clips.json this command wrote",
        "group": "a csv with columns model, dataset, metric, mean, std",
        "run": "a checkpoint of the run: every figure it supports",
    }
    for kind in SUBCOMMANDS:
        command = commands.add_parser(kind, help=inputs[kind])
        command.add_argument("source", help=inputs[kind])
        command.add_argument("--out", default="figures", help="folder for the PNG files (default: figures)")
        command.add_argument("--name", default=None, help="file name prefix (default: the run's name)")
        if kind in ("training", "run"):
            command.add_argument("--metrics", nargs="+", default=None,
                                 help="validation metrics to draw (default: valid_metric; 'all': every one)")
        if kind in ("grcn-edges", "run"):
            command.add_argument("--bins", type=int, default=40, help="histogram bins (grcn-edges)")
        if kind in ("frame-clips", "run"):
            command.add_argument("--split", choices=("train", "valid", "test"), default="test",
                                 help="whose views (frame-clips)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    options = {"name": args.name, "bins": getattr(args, "bins", 40), "split": getattr(args, "split", "test"),
               "metrics": getattr(args, "metrics", None)}
    if not os.path.exists(args.source):
        print(f"error: no such file: {args.source}", file=sys.stderr)
        return 1
    try:
        if args.kind == "run":
            written = run_figures(args.source, args.out, **options)
        else:
            written = make_figure(args.kind, args.source, args.out, **options)
    except (ValueError, RuntimeError) as error:  # bad input: a message, not a traceback
        print(f"error: {args.source}: {error}", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
