"""Watch-time benchmark under the own-items protocol: FRAME, DPSkipNet and their ablations
beside the trivial rankers (random, item completion rate, shorter duration first) and
RecBole's BPR, over several seeds; writes a section of docs/benchmarks.md.

    python benchmarks/microvideo_accuracy.py --dataset=microvideo-sim --seeds 2020 2021 2022

Each user ranks only her own test views; relevant = watched to the end. Trivial rankers
are strong under this protocol (REFERENCE.md): a model that does not beat them has
learned nothing useful.

``--only`` / ``--skip`` pick variants by label: ``FRAME N_c=8`` needs clip features cut in 8 (or
none: ``--set clip_features=None``), and the ``visual_features`` rows need data with clip
features (``original`` is an error without them, ``none`` is then what ``FRAME`` runs);
``original`` uses the features' own size as ``d`` (32 on microvideo-sim).
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import (  # noqa: E402
    command_line, markdown_table, mean_std, parse_benchmark_args, parse_overrides, run_benchmark,
    run_variants, set_threads, write_section,
)

BPR_SAMPLING = {"train_neg_sample_args": {"distribution": "uniform", "sample_num": 1}}
VARIANTS = [
    ("Random", "Random", {}),
    ("ItemCompletionRate", "ItemCompletionRate", {}),
    ("ShorterFirst", "ShorterFirst", {}),
    ("BPR (all views)", "BPR", BPR_SAMPLING),
    ("BPR (full watches)", "BPR", dict(BPR_SAMPLING, train_keep={"full_watch": 1})),
    ("DPSkipNet", "DPSkipNet", {}),
    ("DPSkipNet graphs=single", "DPSkipNet", {"graphs": "single"}),
    ("DPSkipNet graphs=high", "DPSkipNet", {"graphs": "high"}),
    ("DPSkipNet bpr_negatives=unseen", "DPSkipNet", {"bpr_negatives": "unseen"}),
    ("FRAME", "FRAME", {}),
    ("FRAME N_c=1", "FRAME", {"n_clips": 1}),
    ("FRAME N_c=8", "FRAME", {"n_clips": 8}),
    ("FRAME negative_clips=False", "FRAME", {"negative_clips": False}),
    ("FRAME visual_features=original", "FRAME", {"visual_features": "original", "embedding_size": 32}),
    ("FRAME visual_features=none", "FRAME", {"visual_features": "none"}),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="microvideo-sim")
    parser.add_argument("--seeds", nargs="+", type=int, default=[2020, 2021, 2022])
    parser.add_argument("--metrics", nargs="+", default=["auc", "logloss", "precision@3", "recall@3", "map@5", "ndcg@5"])
    parser.add_argument("--only", nargs="*", default=None, help="labels of the variants to run")
    parser.add_argument("--skip", nargs="*", default=[], help="labels of variants to leave out")
    parser.add_argument("--set", nargs="*", default=[], help="extra key=value config overrides")
    parser.add_argument("--threads", type=int, default=None)
    args = parse_benchmark_args(parser)
    set_threads(args.threads)
    base = dict({"state": "ERROR", "show_progress": False, "checkpoint_dir": os.path.join("saved", "bench-mv")},
                **parse_overrides(args.set))
    unknown = set(args.only or []).union(args.skip) - {label for label, _, _ in VARIANTS}
    if unknown:
        parser.error(f"unknown variant labels {sorted(unknown)}; known: {[label for label, _, _ in VARIANTS]}")
    variants = [v for v in VARIANTS if (args.only is None or v[0] in args.only) and v[0] not in args.skip]
    results = run_variants(variants, args.dataset, args.seeds, base, args.metrics)
    rows = [[label] + [mean_std(r["test_result"][m] for r in items) for m in args.metrics]
            + [f"{items[0]['test_result']['users_ranked']} / {items[0]['test_result']['users_skipped']}"]
            for label, items in results.items()]
    table = markdown_table(["model"] + args.metrics + ["users ranked / skipped"], rows)
    print(table)
    write_section(f"microvideo-{args.dataset}",
                  f"### Own-items protocol on {args.dataset} (seeds {', '.join(map(str, args.seeds))})\n\n"
                  f"Command: `{command_line()}`\n\n{table}\n")


if __name__ == "__main__":
    run_benchmark(main)
