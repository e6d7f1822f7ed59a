"""Speed and memory of the ADT models: epoch time (CE and T-CE), full-sort evaluation
time and peak memory, on ml-100k or on generated data at a paper dataset's scale.

    python benchmarks/speed_adt.py --scale ml-100k
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

from benchmarks.common import command_line, markdown_table, peak_rss_mb, write_section  # noqa: E402
from recbole.utils import init_seed  # noqa: E402
from recbole_denoise.config import Config  # noqa: E402
from recbole_denoise.utils import create_dataset, data_preparation, get_model, get_trainer  # noqa: E402

SCALES = {  # users, items, interactions (ADT Table 2)
    "yelp": (45548, 57396, 1672520),
    "amazon-book": (80464, 98663, 2714021),
    "adressa": (212231, 6596, 419491),
}


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
    trainer.evaluate(valid, load_best_model=False)
    eval_seconds = time.perf_counter() - started
    return epoch_seconds, eval_seconds, len(train._dataset), train._dataset.user_num - 1, train._dataset.item_num - 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="ml-100k", choices=["ml-100k"] + sorted(SCALES))
    parser.add_argument("--models", nargs="+", default=["GMF", "NeuMF", "CDAE"])
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    if args.scale == "ml-100k":
        dataset, data_path = "ml-100k", "dataset/"
    else:
        data_path = tempfile.mkdtemp(prefix="speed-adt-")
        dataset = f"synthetic-{args.scale}"
        generate(os.path.join(data_path, dataset), *SCALES[args.scale])
    rows = []
    for model_name in args.models:
        for loss_type in ("CE", "TCE"):
            epoch, evaluation, n_train, n_users, n_items = time_model(model_name, dataset, data_path, loss_type)
            rows.append([model_name, loss_type, f"{n_users:,} x {n_items:,}, {n_train:,} train",
                         f"{epoch:.1f}", f"{evaluation:.1f}", f"{peak_rss_mb():.0f}"])
            print(" | ".join(rows[-1]), flush=True)
    table = markdown_table(["model", "loss", "scale (users x items, interactions)", "epoch s",
                            "valid full-sort s", "peak RSS MB (process)"], rows)
    body = (f"### ADT models, speed at {args.scale} scale ({torch.get_num_threads()} threads, CPU)\n\n"
            f"Command: `{command_line()}`\n\n{table}\n\nPeak RSS is the whole process so far "
            f"(it only grows), so later rows include earlier ones.\n")
    write_section(f"speed-adt-{args.scale}", body)


if __name__ == "__main__":
    main()
