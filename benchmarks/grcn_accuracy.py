"""GRCN benchmark on a multimodal dataset: GRCN and its variants beside BPR, LightGCN
and popularity; the routing-iteration curve; and an injected-noise check. Writes
three sections of docs/benchmarks.md.

    python benchmarks/grcn_accuracy.py --dataset=ml-100k-mm --seeds 2020 2021 2022

Injected noise: ``--noise 0.2`` adds 20% random false interactions to the training
split only (``train_noise_ratio``); the table gives each model's Recall@10 with and
without it, and GRCN's mean learned weight of injected vs original edges.
"""

import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import (  # noqa: E402
    command_line, markdown_table, mean_std, parse_benchmark_args, parse_overrides, run_benchmark,
    run_variants, set_threads, write_section,
)
from recbole.utils import init_seed  # noqa: E402
from recbole_denoise.config import Config  # noqa: E402
from recbole_denoise.plot import relative_edge_weights  # noqa: E402
from recbole_denoise.quick_start import prepare  # noqa: E402

VARIANTS = [
    ("Popularity", "Popularity", {"epochs": 1, "eval_step": 1}),
    ("BPR", "BPR", {}),
    ("LightGCN", "LightGCN", {}),
    ("GRCN (confid, soft)", "GRCN", {}),
    ("GRCN fusion=mean", "GRCN", {"fusion": "mean"}),
    ("GRCN fusion=max", "GRCN", {"fusion": "max"}),
    ("GRCN pruning=hard", "GRCN", {"pruning": "hard"}),
    ("GRCN-ID", "GRCN", {"representation": "id"}),
]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="ml-100k-mm")
    parser.add_argument("--seeds", nargs="+", type=int, default=[2020, 2021, 2022])
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--routing", nargs="*", type=int, default=[0, 1, 2, 3, 4, 5])
    parser.add_argument("--noise", type=float, default=0.2)
    parser.add_argument("--metrics", nargs="+", default=["recall@10", "ndcg@10", "precision@10"])
    parser.add_argument("--set", nargs="*", default=[], help="extra key=value config overrides")
    parser.add_argument("--skip", nargs="*", default=[], choices=["accuracy", "routing", "noise"])
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (use 1 per process when benchmarks share the CPU)")
    return parse_benchmark_args(parser)


def summary_rows(results, metrics):
    return [[label] + [mean_std(r["test_result"][m] for r in items) for m in metrics]
            + [f"{statistics.mean(r['seconds'] for r in items):.0f}"] for label, items in results.items()]


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


def accuracy_section(args, base, header_note):
    results = run_variants(VARIANTS, args.dataset, args.seeds, base, args.metrics)
    table = markdown_table(["model"] + args.metrics + ["s / run"], summary_rows(results, args.metrics))
    print(table)
    write_section(f"grcn-{args.dataset}", f"### GRCN on {args.dataset} ({header_note})\n\n{table}\n")
    return results


def noise_section(args, base, header_note, done):
    """Recall@10 with clean vs noisy training data; clean runs are reused from the
    accuracy section when it ran with the same settings."""
    labels = ("Popularity", "BPR", "LightGCN", "GRCN (confid, soft)")
    clean = [v for v in VARIANTS if v[0] in labels and v[0] not in done]
    results = dict(done, **run_variants(clean, args.dataset, args.seeds, base, args.metrics))
    noisy = [(f"{label} + noise", model, dict(overrides, train_noise_ratio=args.noise))
             for label, model, overrides in VARIANTS if label in labels[:3]]
    results.update(run_variants(noisy, args.dataset, args.seeds, base, args.metrics))
    grcn_runs = [noisy_grcn_run(args.dataset, base, seed, args.noise) for seed in args.seeds]
    results["GRCN (confid, soft) + noise"] = grcn_runs
    rows = []
    for label in labels:
        before = [r["test_result"]["recall@10"] for r in results[label]]
        after = [r["test_result"]["recall@10"] for r in results[f"{label} + noise"]]
        drops = [(b - a) / b for b, a in zip(before, after)]
        rows.append([label, mean_std(before), mean_std(after), mean_std(drops)])
    weight_rows = [[key, mean_std(r["weights"][key][0] for r in grcn_runs),
                    mean_std(r["weights"][key][1] for r in grcn_runs)] for key in grcn_runs[0]["weights"]]
    body = (f"### Injected noise on {args.dataset}: {args.noise:.0%} random training edges ({header_note})\n\n"
            + markdown_table(["model", "recall@10 clean train", "recall@10 noisy train", "relative drop"], rows)
            + "\n\nGRCN's learned edge weights on the noisy training graph (best checkpoint): raw, relative to "
            "the mean weight at the same node (1 = average), and the share of edges below their node's average:\n\n"
            + markdown_table(["edge weights", "injected edges", "original edges"], weight_rows)
            + "\n")
    print(body)
    write_section(f"grcn-noise-{args.dataset}", body)


def routing_section(args, base, header_note, done):
    """Routing-iteration curve; the default setting is reused from the accuracy section."""
    default = Config(model="GRCN", dataset=args.dataset, config_dict=dict(base))["routing_iters"]
    results = {}
    for iters in args.routing:
        label = f"GRCN routing_iters={iters}"
        if iters == default and "GRCN (confid, soft)" in done:
            results[label] = done["GRCN (confid, soft)"]
        else:
            results.update(run_variants([(label, "GRCN", {"routing_iters": iters})],
                                        args.dataset, args.seeds, base, args.metrics))
    table = markdown_table(["variant"] + args.metrics + ["s / run"], summary_rows(results, args.metrics))
    print(table)
    write_section(f"grcn-routing-{args.dataset}",
                  f"### GRCN routing iterations on {args.dataset} ({header_note})\n\n{table}\n")


def main():
    args = parse_args()
    set_threads(args.threads)
    base = dict({"epochs": args.epochs, "state": "ERROR", "show_progress": False,
                 "checkpoint_dir": os.path.join("saved", "bench-grcn")}, **parse_overrides(args.set))
    header_note = f"seeds {', '.join(map(str, args.seeds))}; command: `{command_line()}`"
    done = accuracy_section(args, base, header_note) if "accuracy" not in args.skip else {}
    if "noise" not in args.skip:
        noise_section(args, base, header_note, done)
    if "routing" not in args.skip:
        routing_section(args, base, header_note, done)


if __name__ == "__main__":
    run_benchmark(main)
