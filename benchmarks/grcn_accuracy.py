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

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import (  # noqa: E402
    command_line, markdown_table, mean_std, parse_overrides, run_variants, set_threads, write_section,
)
from recbole.utils import init_seed  # noqa: E402
from recbole_denoise.config import Config  # noqa: E402
from recbole_denoise.quick_start import _prepare  # noqa: E402

VARIANTS = [
    ("Pop", "Pop", {"eval_step": 1}),
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
    return parser.parse_args()


def summary_rows(results, metrics):
    return [[label] + [mean_std(r["test_result"][m] for r in items) for m in metrics]
            + [f"{statistics.mean(r['seconds'] for r in items):.0f}"] for label, items in results.items()]


def injected_edge_weights(dataset, base, seed):
    """GRCN trained on noisy training data: mean weight of injected vs original edges."""
    config = Config(model="GRCN", dataset=dataset, config_dict=dict(base, seed=seed, train_noise_ratio=base["noise"]))
    init_seed(config["seed"], config["reproducibility"])
    _, (train, valid, _), model, trainer = _prepare(config)
    trainer.fit(train, valid, saved=True, show_progress=False)
    trainer.evaluate(valid, load_best_model=True)  # loads the best weights into the model
    weights = model.edge_weights()
    inter = train._dataset.inter_feat
    flag = dict(zip(zip(inter["user_id"].tolist(), inter["item_id"].tolist()), inter["clean"].tolist()))
    injected = torch.tensor([flag[p] == 0 for p in zip(weights["user"].tolist(), weights["item"].tolist())])
    return {key: (float(weights[key][injected].mean()), float(weights[key][~injected].mean()))
            for key in ("item_to_user", "user_to_item")}


def main():
    args = parse_args()
    set_threads(args.threads)
    base = dict({"epochs": args.epochs, "state": "ERROR", "show_progress": False,
                 "checkpoint_dir": os.path.join("saved", "bench-grcn")}, **parse_overrides(args.set))
    header_note = f"seeds {', '.join(map(str, args.seeds))}; command: `{command_line()}`"

    if "accuracy" not in args.skip:
        results = run_variants(VARIANTS, args.dataset, args.seeds, base, args.metrics)
        table = markdown_table(["model"] + args.metrics + ["s / run"], summary_rows(results, args.metrics))
        print(table)
        write_section(f"grcn-{args.dataset}", f"### GRCN on {args.dataset} ({header_note})\n\n{table}\n")

    if "routing" not in args.skip:
        variants = [(f"GRCN routing_iters={t}", "GRCN", {"routing_iters": t}) for t in args.routing]
        results = run_variants(variants, args.dataset, args.seeds, base, args.metrics)
        table = markdown_table(["variant"] + args.metrics + ["s / run"], summary_rows(results, args.metrics))
        print(table)
        write_section(f"grcn-routing-{args.dataset}",
                      f"### GRCN routing iterations on {args.dataset} ({header_note})\n\n{table}\n")

    if "noise" not in args.skip:
        noisy = [(f"{label} + {args.noise:.0%} noise", model, dict(overrides, train_noise_ratio=args.noise))
                 for label, model, overrides in VARIANTS if label in ("BPR", "LightGCN", "GRCN (confid, soft)", "Pop")]
        clean = [(label, model, overrides) for label, model, overrides in VARIANTS
                 if label in ("BPR", "LightGCN", "GRCN (confid, soft)", "Pop")]
        results = run_variants(clean + noisy, args.dataset, args.seeds, base, args.metrics)
        rows = []
        for label, _, _ in clean:
            before = [r["test_result"]["recall@10"] for r in results[label]]
            after = [r["test_result"]["recall@10"] for r in results[f"{label} + {args.noise:.0%} noise"]]
            drops = [(b - a) / b for b, a in zip(before, after)]
            rows.append([label, mean_std(before), mean_std(after), mean_std(drops)])
        weights = [injected_edge_weights(args.dataset, dict(base, noise=args.noise), seed) for seed in args.seeds]
        weight_rows = [[key, mean_std(w[key][0] for w in weights), mean_std(w[key][1] for w in weights)]
                       for key in ("item_to_user", "user_to_item")]
        body = (f"### Injected noise on {args.dataset}: {args.noise:.0%} random training edges ({header_note})\n\n"
                + markdown_table(["model", "recall@10 clean train", "recall@10 noisy train", "relative drop"], rows)
                + "\n\nGRCN's learned edge weights on the noisy training graph (best checkpoint):\n\n"
                + markdown_table(["edge direction", "mean weight, injected", "mean weight, original"], weight_rows)
                + "\n")
        print(body)
        write_section(f"grcn-noise-{args.dataset}", body)


if __name__ == "__main__":
    main()
