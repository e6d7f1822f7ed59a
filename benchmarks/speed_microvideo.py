"""FRAME and DPSkipNet speed and memory at MVA scale on generated watch-time data.

    python benchmarks/speed_microvideo.py                  # 12,739 users, 58,291 videos, 342,694 views, N_c = 8
    python benchmarks/speed_microvideo.py --users 2000 --videos 8000 --views 50000   # a quick look

Each model runs in its own process (so peak memory is its own): ``--batches`` training
steps are timed and the epoch extrapolated, then one own-items evaluation of the
validation views is timed. The table puts the peak memory beside what the authors'
FRAME code needs for its two dense users x clips matrices alone (float32).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import yaml

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import (  # noqa: E402
    command_line, markdown_table, median_step_seconds, parse_benchmark_args, peak_rss_mb, run_benchmark,
    set_threads, write_section,
)

MODELS = ("FRAME", "DPSkipNet")


def generate(folder, users, videos, views, n_clips, dim, seed=0):
    """Views with a plausible watch-ratio mix (a third watched to the end, the rest
    skipped at a uniform point), lognormal durations and Gaussian clip features."""
    from recbole_denoise.data.convert.watch_csv import watch_protocol

    rng = np.random.default_rng(seed)
    name = os.path.basename(folder)
    os.makedirs(folder, exist_ok=True)
    pairs = np.unique(np.stack([rng.integers(0, users, views), rng.integers(0, videos, views)], 1), axis=0)
    duration = np.clip(np.exp(rng.normal(np.log(30), 0.6, videos)), 5, 300).round(3)
    full = rng.random(len(pairs)) < 0.35
    ratio = np.where(full, 1 + 0.5 * rng.random(len(pairs)), rng.random(len(pairs)))
    play = (ratio * duration[pairs[:, 1]]).round(3)
    stamp = 1_650_000_000 + np.arange(len(pairs))
    with open(os.path.join(folder, f"{name}.inter"), "w") as handle:
        handle.write("user_id:token\titem_id:token\tplay_time:float\tduration:float\ttimestamp:float\n")
        for (user, video), p, t in zip(pairs.tolist(), play.tolist(), stamp.tolist()):
            handle.write(f"{user}\t{video}\t{p}\t{duration[video]}\t{t}\n")
    np.save(os.path.join(folder, f"{name}.clip.npy"), rng.standard_normal((videos, n_clips, dim), dtype=np.float32))
    with open(os.path.join(folder, f"{name}.clip.tokens"), "w") as handle:
        handle.write("".join(f"{v}\n" for v in range(videos)))
    config = dict(watch_protocol(True), n_clips=n_clips,
                  load_col={"inter": ["user_id", "item_id", "play_time", "duration", "timestamp"]},
                  clip_features={"file": f"{name}.clip.npy", "tokens": f"{name}.clip.tokens"})
    with open(os.path.join(folder, f"{name}.yaml"), "w") as handle:
        yaml.safe_dump(config, handle)
    return len(pairs)


def measure(model_name, root, batches, threads):
    """Train ``batches`` steps and evaluate once; a dict of timings and sizes."""
    set_threads(threads)
    from recbole.utils import init_seed

    from recbole_denoise.config import Config
    from recbole_denoise.utils import create_dataset, data_preparation, get_model, get_trainer

    config = Config(model=model_name, dataset="mva-synthetic", config_dict={
        "data_path": root, "state": "ERROR", "show_progress": False, "checkpoint_dir": os.path.join(root, "saved")})
    init_seed(config["seed"], True)
    train, valid, _ = data_preparation(config, create_dataset(config))
    model = get_model(model_name)(config, train._dataset).to(config["device"])
    trainer = get_trainer(config["MODEL_TYPE"], model_name, config)(config, model)
    per_batch = median_step_seconds(trainer, train, batches)
    started = time.perf_counter()
    trainer.evaluate(valid, load_best_model=False)
    dataset = train._dataset
    edges = {"FRAME": lambda: model.positive_graph.num_edges + model.negative_graph.num_edges,
             "DPSkipNet": lambda: sum(g.num_edges for g in model.graphs)}[model_name]()
    return {"batch": per_batch, "n_batches": len(train), "evaluate": time.perf_counter() - started,
            "peak_mb": peak_rss_mb(), "train_views": len(dataset.inter_feat), "edges": edges,
            "users": dataset.user_num - 1, "videos": dataset.item_num - 1, "threads": torch.get_num_threads()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=12739)
    parser.add_argument("--videos", type=int, default=58291)
    parser.add_argument("--views", type=int, default=342694)
    parser.add_argument("--n_clips", type=int, default=8)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--worker", choices=MODELS, help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    args = parse_benchmark_args(parser)
    if args.worker:  # one model in this process; the result as the last line
        print(json.dumps(measure(args.worker, args.root, args.batches, args.threads)))
        return

    root = tempfile.mkdtemp(prefix="speed-mv-")
    try:
        views = generate(os.path.join(root, "mva-synthetic"), args.users, args.videos, args.views, args.n_clips, args.dim)
        results = {}
        for model in MODELS:
            command = [sys.executable, os.path.abspath(__file__), "--worker", model, "--root", root,
                       "--batches", str(args.batches)] + (["--threads", str(args.threads)] if args.threads else [])
            output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            results[model] = json.loads(output.strip().splitlines()[-1])
            print(model, results[model], flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    dense_mb = 2 * args.users * args.videos * args.n_clips * 4 / 2 ** 20
    rows = [[model, f"{r['batch']:.3f}", f"{r['batch'] * r['n_batches']:.0f} (x {r['n_batches']} batches)",
             f"{r['evaluate']:.1f}", f"{r['edges']:,}", f"{r['peak_mb']:,.0f}",
             f"{r['peak_mb'] / dense_mb:.1%}" if model == "FRAME" else "-"] for model, r in results.items()]
    first = next(iter(results.values()))
    scale = (f"{first['users']:,} users, {first['videos']:,} videos, {views:,} views ({first['train_views']:,} "
             f"training), N_c = {args.n_clips}, {args.dim}-d clip features, {first['threads']} threads, CPU")
    table = markdown_table(["model", "s / batch of 1024 (median)", "epoch s (extrapolated)", "valid own-items s",
                            "graph edges", "peak RSS MB", "peak / dense R^p + R^n"], rows)
    body = (f"### FRAME and DPSkipNet speed at MVA scale\n\n{scale}. The authors' dense R^p and R^n alone "
            f"would take {dense_mb:,.0f} MB (2 x users x clips x 4 bytes).\n\nCommand: `{command_line()}`\n\n{table}\n")
    print(body)
    write_section("speed-microvideo", body)


if __name__ == "__main__":
    run_benchmark(main)
