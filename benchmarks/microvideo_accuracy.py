"""Watch-time benchmark under the own-items protocol: FRAME, DPSkipNet and their ablations
beside the trivial rankers (random, item completion rate, shorter duration first) and
RecBole's BPR, over several seeds; writes a section of docs/benchmarks.md.

    python benchmarks/microvideo_accuracy.py --dataset=microvideo-sim --seeds 2020 2021 2022

Each user ranks only her own test views; relevant = watched to the end. Trivial rankers
are strong under this protocol (REFERENCE.md): a model that does not beat them has
learned nothing useful.

Every run reports both metric definitions and the duration-debiased metrics; the
script prints and writes three tables from the same runs: RecBole's definitions, the
DualSkipNet authors' definitions, and DVR's duration view (watch-time gain within
duration buckets of the training split) with the duration rankers and the
``duration_aware`` variants. ``--split papers`` replaces the dataset's split by the
papers' one (random 6:2:2 per user); the section title names the split.

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
    ("LongerFirst", "LongerFirst", {}),
    ("BPR (all views)", "BPR", BPR_SAMPLING),
    ("BPR (full watches)", "BPR", dict(BPR_SAMPLING, train_keep={"full_watch": 1})),
    ("DPSkipNet", "DPSkipNet", {}),
    ("DPSkipNet graphs=single", "DPSkipNet", {"graphs": "single"}),
    ("DPSkipNet graphs=high", "DPSkipNet", {"graphs": "high"}),
    ("DPSkipNet bpr_negatives=unseen", "DPSkipNet", {"bpr_negatives": "unseen"}),
    ("DPSkipNet video_features=none", "DPSkipNet", {"video_features": "none"}),
    ("DPSkipNet duration_aware=True", "DPSkipNet", {"duration_aware": True}),
    ("FRAME", "FRAME", {}),
    ("FRAME N_c=1", "FRAME", {"n_clips": 1}),
    ("FRAME N_c=8", "FRAME", {"n_clips": 8}),
    ("FRAME negative_clips=False", "FRAME", {"negative_clips": False}),
    ("FRAME visual_features=original", "FRAME", {"visual_features": "original", "embedding_size": 32}),
    ("FRAME visual_features=none", "FRAME", {"visual_features": "none"}),
    ("FRAME duration_aware=True", "FRAME", {"duration_aware": True}),
]
# one run computes every column of the three tables
OWN_ITEMS_METRICS = ["AUC", "GAUC", "LogLoss", "Precision", "Recall", "MAP", "NDCG",
                     "Precision_authors", "MAP_authors", "NDCG_authors", "GAIN", "DCWTG", "DurationGAUC"]
TABLES = [
    ("RecBole's metric definitions", ["auc", "gauc", "logloss", "precision@3", "recall@3", "map@5", "ndcg@5"]),
    ("the DualSkipNet authors' definitions (precision over min(k, items), MAP over the hits, NDCG against "
     "the ideal DCG of the retrieved top k; recall is the same under both)",
     ["precision_authors@3", "recall@3", "map_authors@5", "ndcg_authors@5"]),
    ("duration-debiased (DVR): mean watch-time gain of the top 3, DCWTG@5, and GAUC within (user, duration "
     "bucket); 10 equal-frequency buckets of the training split", ["gain@3", "dcwtg@5", "durationgauc"]),
]
SPLITS = {
    "dataset": None,  # the eval_args of the dataset's yaml
    "papers": {"split": {"RS": [0.6, 0.2, 0.2]}, "group_by": "user", "order": "RO", "mode": "labeled"},
}
SPLIT_NAMES = {"dataset": "the dataset's own split", "papers": "the papers' split, random 6:2:2 per user"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="microvideo-sim")
    parser.add_argument("--seeds", nargs="+", type=int, default=[2020, 2021, 2022])
    parser.add_argument("--split", choices=sorted(SPLITS), default="dataset",
                        help="dataset: the split of the dataset's yaml; papers: random 6:2:2 per user")
    parser.add_argument("--only", nargs="*", default=None, help="labels of the variants to run")
    parser.add_argument("--skip", nargs="*", default=[], help="labels of variants to leave out")
    parser.add_argument("--set", nargs="*", default=[], help="extra key=value config overrides")
    parser.add_argument("--threads", type=int, default=None)
    args = parse_benchmark_args(parser)
    set_threads(args.threads)
    section = f"microvideo-{args.dataset}" + ("" if args.split == "dataset" else f"-{args.split}-split")
    # one folder per table: RecBole names a checkpoint by model and second, so two tables
    # run side by side in one folder could load each other's BPR checkpoint
    base = {"state": "ERROR", "show_progress": False, "checkpoint_dir": os.path.join("saved", "bench-mv", section),
            "own_items_metrics": OWN_ITEMS_METRICS}
    if SPLITS[args.split] is not None:
        base["eval_args"] = SPLITS[args.split]
    base.update(parse_overrides(args.set))
    unknown = set(args.only or []).union(args.skip) - {label for label, _, _ in VARIANTS}
    if unknown:
        parser.error(f"unknown variant labels {sorted(unknown)}; known: {[label for label, _, _ in VARIANTS]}")
    variants = [v for v in VARIANTS if (args.only is None or v[0] in args.only) and v[0] not in args.skip]
    results = run_variants(variants, args.dataset, args.seeds, base, ["ndcg@5", "ndcg_authors@5", "dcwtg@5"])
    tables = [f"Metrics: {title}.\n\n{result_table(results, metrics)}" for title, metrics in TABLES]
    print("\n\n".join(tables))
    write_section(section,
                  f"### Own-items protocol on {args.dataset}, {SPLIT_NAMES[args.split]} "
                  f"(seeds {', '.join(map(str, args.seeds))})\n\n"
                  f"Command: `{command_line()}`\n\n" + "\n\n".join(tables) + "\n")


def result_table(results, metrics):
    """Mean ± std of ``metrics`` per variant, with the share of tied within-user pairs
    and the users ranked / skipped."""
    rows = [[label] + [mean_std(r["test_result"][m] for r in items) for m in metrics]
            + [f"{max(r['test_result']['tied_pair_share'] for r in items):.1%}",
               f"{items[0]['test_result']['users_ranked']} / {items[0]['test_result']['users_skipped']}"]
            for label, items in results.items()]
    return markdown_table(["model"] + metrics + ["tied pairs (max)", "users ranked / skipped"], rows)


if __name__ == "__main__":
    run_benchmark(main)
