"""Speed and memory of the ADT models: epoch time (CE and T-CE), full-sort evaluation
time and peak memory, on ml-100k or on generated data at a paper dataset's scale.
NeuMF's validation is timed twice: this package's full sort, and RecBole's own NeuMF
with the same weights (no full_sort_predict: every user-item pair through predict),
with a check that both give the same metrics.

    python benchmarks/speed_adt.py --scale ml-100k
    python benchmarks/speed_adt.py --models NeuMF --threads 1 --section speed-adt-ml-100k-neumf
    python benchmarks/speed_adt.py --scale yelp      # 45,548 users, 57,396 items, 1.67M interactions

Generated data (uniform random interactions, 15% flagged false positive) is for timing
only. Prints one line per model and writes a section of docs/benchmarks.md.
"""

import argparse
import os
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import (  # noqa: E402
    command_line, markdown_table, parse_benchmark_args, peak_rss_mb, run_benchmark, set_threads, write_section,
)
from recbole.model.general_recommender import NeuMF as RecBoleNeuMF  # noqa: E402
from recbole.trainer import Trainer as RecBoleTrainer  # noqa: E402
from recbole.utils import init_seed  # noqa: E402
from recbole_denoise.config import Config  # noqa: E402
from recbole_denoise.utils import create_dataset, data_preparation, get_model, get_trainer  # noqa: E402

SCALES = {  # users, items, interactions (ADT Table 2)
    "yelp": (45548, 57396, 1672520),
    "amazon-book": (80464, 98663, 2714021),
    "adressa": (212231, 6596, 419491),
}

DEFAULT_MODELS = ["GMF", "NeuMF", "CDAE"]

# this package's models that replace a RecBole model of the same name and parameters
RECBOLE_COUNTERPARTS = {"NeuMF": RecBoleNeuMF}


def generate(folder, users, items, interactions, seed=0):
    """Random interactions at the given scale, written as a RecBole atomic file."""
    rng = np.random.default_rng(seed)
    pairs = np.unique(np.stack([rng.integers(0, users, interactions),
                                rng.integers(0, items, interactions)], 1), axis=0)
    clean = (rng.random(len(pairs)) > 0.15).astype(int)
    name = os.path.basename(folder)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, f"{name}.inter"), "w") as handle:
        handle.write("user_id:token\titem_id:token\tclean:float\n")
        np.savetxt(handle, np.column_stack([pairs, clean]), fmt="%d", delimiter="\t")
    return len(pairs)


def time_model(model_name, dataset, data_path, loss_type):
    config = Config(model=model_name, dataset=dataset, config_dict={
        "data_path": data_path, "loss_type": loss_type, "state": "ERROR", "show_progress": False,
        "checkpoint_dir": os.path.join(tempfile.gettempdir(), "speed-adt"), "num_gradual": 10,
        "user_inter_num_interval": "[1,inf)",
    })
    init_seed(config["seed"], True)
    train, valid, test = data_preparation(config, create_dataset(config))
    model = get_model(model_name)(config, train._dataset).to(config["device"])
    trainer = get_trainer(config["MODEL_TYPE"], model_name, config)(config, model)
    started = time.perf_counter()
    trainer._train_epoch(train, 0)
    epoch_seconds = time.perf_counter() - started
    started = time.perf_counter()
    result = trainer.evaluate(valid, load_best_model=False)
    eval_seconds = time.perf_counter() - started
    recbole_path = recbole_path_eval(model, config, valid, result) if model_name in RECBOLE_COUNTERPARTS else ("-", "-")
    return (epoch_seconds, eval_seconds, *recbole_path,
            len(train._dataset), train._dataset.user_num - 1, train._dataset.item_num - 1)


def recbole_path_eval(model, config, valid, result):
    """Validation seconds of RecBole's own class of ``model`` holding the same weights,
    and whether its metrics equal ``result`` (``'yes'`` / ``'no'``)."""
    twin = RECBOLE_COUNTERPARTS[type(model).__name__](config, valid._dataset).to(config["device"])
    twin.load_state_dict(model.state_dict())
    trainer = RecBoleTrainer(config, twin)
    started = time.perf_counter()
    twin_result = trainer.evaluate(valid, load_best_model=False)
    seconds = time.perf_counter() - started
    return f"{seconds:.1f}", "yes" if twin_result == result else "no"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="ml-100k", choices=["ml-100k"] + sorted(SCALES))
    parser.add_argument("--models", nargs="+", default=DEFAULT_MODELS)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (use 1 per process when benchmarks share the CPU)")
    parser.add_argument("--section", default=None, help="docs/benchmarks.md section (default speed-adt-<scale>)")
    args = parse_benchmark_args(parser)
    set_threads(args.threads)
    if args.scale == "ml-100k":
        dataset, data_path = "ml-100k", "dataset/"
    else:
        data_path = tempfile.mkdtemp(prefix="speed-adt-")
        dataset = f"synthetic-{args.scale}"
        generate(os.path.join(data_path, dataset), *SCALES[args.scale])
    rows = []
    for model_name in args.models:
        for loss_type in ("CE", "TCE"):
            epoch, evaluation, recbole_seconds, same, n_train, n_users, n_items = time_model(
                model_name, dataset, data_path, loss_type)
            rows.append([model_name, loss_type, f"{n_users:,} x {n_items:,}, {n_train:,} train",
                         f"{epoch:.1f}", f"{evaluation:.1f}", recbole_seconds, same, f"{peak_rss_mb():.0f}"])
            print(" | ".join(rows[-1]), flush=True)
    table = markdown_table(["model", "loss", "scale (users x items, interactions)", "epoch s",
                            "valid full-sort s", "valid s, RecBole's model", "same metrics",
                            "peak RSS MB (process)"], rows)
    title = "ADT models" if args.models == DEFAULT_MODELS else ", ".join(args.models)
    body = (f"### {title}, speed at {args.scale} scale ({torch.get_num_threads()} threads, CPU)\n\n"
            f"Command: `{command_line()}`\n\n{table}\n\nPeak RSS is the whole process so far "
            f"(it only grows), so later rows include earlier ones.\n")
    write_section(args.section or f"speed-adt-{args.scale}", body)


if __name__ == "__main__":
    run_benchmark(main)
