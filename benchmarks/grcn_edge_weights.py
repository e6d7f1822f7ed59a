"""GRCN's learned edge weights on a training graph with injected random edges: the mean
weight of injected vs original edges, raw and relative to the other edges of the same
node, over several seeds. What a result table of the group runner cannot hold; the
accuracy of the same runs' setting is ``benchmarks/specs/grcn-noise-ml-100k-mm.yaml``.

    python benchmarks/grcn_edge_weights.py --threads 1 --set train_batch_size=4096 learning_rate=0.005 \
        eval_step=2 stopping_step=5

Injected edges are uniform random (user, item) pairs never seen in the data
(``train_noise_ratio``), flagged ``clean = 0``, in the training split only.
"""

import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import (  # noqa: E402
    command_line, markdown_table, mean_std, parse_benchmark_args, parse_overrides, run_benchmark, set_threads,
    write_section,
)
from recbole.utils import init_seed  # noqa: E402
from recbole_denoise.config import Config  # noqa: E402
from recbole_denoise.plot import relative_edge_weights  # noqa: E402
from recbole_denoise.quick_start import prepare  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="ml-100k-mm")
    parser.add_argument("--seeds", nargs="+", type=int, default=[2020, 2021, 2022])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--noise", type=float, default=0.2, help="share of injected training edges")
    parser.add_argument("--set", nargs="*", default=[], help="extra key=value config overrides")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (use 1 per process when benchmarks share the CPU)")
    return parse_benchmark_args(parser)


def noisy_grcn_run(dataset, base, seed, noise):
    """GRCN trained with a ``noise`` share of injected training edges: its test result plus
    the mean learned weight of injected vs original training edges (best checkpoint),
    from the same run."""
    config = Config(model="GRCN", dataset=dataset, config_dict=dict(base, seed=seed, train_noise_ratio=noise))
    init_seed(config["seed"], config["reproducibility"])
    started = time.time()
    _, (train, valid, test), model, trainer = prepare(config)
    trainer.fit(train, valid, saved=True, show_progress=False)
    test_result = trainer.evaluate(test, load_best_model=True)  # also loads the best weights
    weights = model.edge_weights()
    inter = train._dataset.inter_feat
    flag = dict(zip(zip(inter["user_id"].tolist(), inter["item_id"].tolist()), inter["clean"].tolist()))
    injected = torch.tensor([flag[p] == 0 for p in zip(weights["user"].tolist(), weights["item"].tolist())])
    means = {}
    for key, relative in relative_edge_weights(weights).items():
        means[key] = (float(weights[key][injected].mean()), float(weights[key][~injected].mean()))
        means[f"{key} relative"] = (float(relative[injected].mean()), float(relative[~injected].mean()))
        means[f"{key} below average"] = (float((relative[injected] < 1).float().mean()),
                                         float((relative[~injected] < 1).float().mean()))
    print(f"GRCN + noise seed {seed}: recall@10 {test_result['recall@10']:.4f}, weights {means}", flush=True)
    return {"test_result": test_result, "weights": means, "seconds": time.time() - started}


def main():
    args = parse_args()
    set_threads(args.threads)
    base = dict({"epochs": args.epochs, "state": "ERROR", "show_progress": False,
                 "checkpoint_dir": os.path.join("saved", "bench-grcn-weights")}, **parse_overrides(args.set))
    runs = [noisy_grcn_run(args.dataset, base, seed, args.noise) for seed in args.seeds]
    rows = [[key, mean_std(r["weights"][key][0] for r in runs), mean_std(r["weights"][key][1] for r in runs)]
            for key in runs[0]["weights"]]
    recall = mean_std(r["test_result"]["recall@10"] for r in runs)
    body = (f"### GRCN's edge weights with {args.noise:.0%} injected training edges on {args.dataset} "
            f"(seeds {', '.join(map(str, args.seeds))})\n\nCommand: `{command_line()}`\n\n"
            "Learned edge weights on the noisy training graph (best checkpoint): raw, relative to the mean "
            "weight at the same node (1 = average), and the share of edges below their node's average "
            f"(the same runs' Recall@10: {recall}):\n\n"
            + markdown_table(["edge weights", "injected edges", "original edges"], rows) + "\n")
    print(body)
    write_section(f"grcn-edge-weights-{args.dataset}", body)


if __name__ == "__main__":
    run_benchmark(main)
