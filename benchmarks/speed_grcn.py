"""GRCN speed and memory at Tiktok scale on generated data.

    python benchmarks/speed_grcn.py                       # 36,656 users, 76,085 items, 700k edges
    python benchmarks/speed_grcn.py --users 3000 --items 6000 --edges 60000   # a quick look

Times ``--batches`` training steps (each recomputes the refined graph over all
training edges, as GRCN does) and extrapolates the epoch, then times one full-sort
evaluation of every user, and prints the peak memory. Nothing is dense in users x
items: the graph is sparse and full-sort scores are computed a user batch at a time.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import (  # noqa: E402
    command_line, markdown_table, median_step_seconds, parse_benchmark_args, peak_rss_mb, run_benchmark,
    write_section,
)
from recbole.utils import init_seed  # noqa: E402
from recbole_denoise.config import Config  # noqa: E402
from recbole_denoise.utils import create_dataset, data_preparation, get_model, get_trainer  # noqa: E402


def generate(folder, users, items, edges, dims, seed=0):
    """Uniform random interactions and Gaussian item features, as atomic files."""
    rng = np.random.default_rng(seed)
    name = os.path.basename(folder)
    os.makedirs(folder, exist_ok=True)
    pairs = np.unique(np.stack([rng.integers(0, users, edges), rng.integers(0, items, edges)], 1), axis=0)
    with open(os.path.join(folder, f"{name}.inter"), "w") as handle:
        handle.write("user_id:token\titem_id:token\n")
        np.savetxt(handle, pairs, fmt="%d", delimiter="\t")
    modalities = []
    for modality, dim in dims.items():
        np.save(os.path.join(folder, f"{name}.{modality}.npy"), rng.standard_normal((items, dim), dtype=np.float32))
        with open(os.path.join(folder, f"{name}.{modality}.tokens"), "w") as handle:
            handle.write("".join(f"{i}\n" for i in range(items)))
        modalities.append(f"  {modality}: {{file: {name}.{modality}.npy, tokens: {name}.{modality}.tokens}}")
    with open(os.path.join(folder, f"{name}.yaml"), "w") as handle:
        handle.write("item_modalities:\n" + "\n".join(modalities) + "\n")
    return len(pairs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=36656)
    parser.add_argument("--items", type=int, default=76085)
    parser.add_argument("--edges", type=int, default=875000, help="before the 8:1:1 split (~700k train)")
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--eval_batch_size", type=int, default=2 ** 22)
    args = parse_benchmark_args(parser)

    root = tempfile.mkdtemp(prefix="speed-grcn-")
    try:
        generate(os.path.join(root, "tiktok-synthetic"), args.users, args.items, args.edges,
                 {"visual": 128, "acoustic": 128})
        config = Config(model="GRCN", dataset="tiktok-synthetic", config_dict={
            "data_path": root, "state": "ERROR", "show_progress": False, "eval_batch_size": args.eval_batch_size,
            "checkpoint_dir": os.path.join(root, "saved")})
        init_seed(config["seed"], True)
        train, valid, _ = data_preparation(config, create_dataset(config))
        model = get_model("GRCN")(config, train._dataset).to(config["device"])
        trainer = get_trainer(config["MODEL_TYPE"], "GRCN", config)(config, model)
        n_train = model.graph.num_edges

        per_batch = median_step_seconds(trainer, train, args.batches)
        epoch = per_batch * len(train)

        started = time.perf_counter()
        trainer.evaluate(valid, load_best_model=False)
        evaluation = time.perf_counter() - started
    finally:
        shutil.rmtree(root, ignore_errors=True)

    scale = f"{args.users:,} users x {args.items:,} items, {n_train:,} training edges, visual 128 + acoustic 128"
    row = [scale, f"{per_batch:.2f}", f"{epoch / 60:.1f} (x {len(train)} batches)", f"{evaluation:.1f}",
           f"{peak_rss_mb():.0f}"]
    table = markdown_table(["scale", "s / training batch (median)", "epoch min (extrapolated)",
                            "valid full-sort s", "peak RSS MB"], [row])
    print(table)
    write_section("speed-grcn", f"### GRCN speed, {torch.get_num_threads()} threads, CPU\n\n"
                  f"Command: `{command_line()}`\n\n{table}\n")


if __name__ == "__main__":
    run_benchmark(main)
