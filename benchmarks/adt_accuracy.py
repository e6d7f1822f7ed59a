"""ADT accuracy benchmark: CE vs T-CE vs R-CE on GMF, NeuMF and CDAE, with the
popularity baseline, over several seeds; writes a section of docs/benchmarks.md.

    python benchmarks/adt_accuracy.py --dataset=ml-100k --seeds 2020 2021 2022

Every run uses the package's defaults (properties/) unless overridden with
``--set key=value``; the test set is the clean one (ADT protocol), checkpoints are
picked by the validation metric of the dataset yaml.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import (  # noqa: E402
    command_line, markdown_table, mean_std, parse_benchmark_args, parse_overrides, run_benchmark,
    run_variants, set_threads, write_section,
)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--models", nargs="*", default=["GMF", "NeuMF", "CDAE"])
    parser.add_argument("--baselines", nargs="*", default=["Popularity"],
                        help="trivial rankers beside the models (RecBole's Pop undercounts, see popularity.py)")
    parser.add_argument("--losses", nargs="+", default=["CE", "TCE", "RCE"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[2020, 2021, 2022])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--metrics", nargs="+", default=["recall@20", "ndcg@20", "recall@10"])
    parser.add_argument("--set", nargs="*", default=[], help="extra key=value config overrides")
    parser.add_argument("--section", default=None, help="docs/benchmarks.md section name")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (use 1 per process when benchmarks share the CPU)")
    return parse_benchmark_args(parser)


def drop_columns(items):
    """T-CE's drop precision and recall (random reference in brackets)."""
    drops = [r.get("denoising") for r in items]
    if not all(drops) or not drops[0]["dropped"]:
        return ["", ""]
    return [f"{mean_std(d['drop_' + k] for d in drops)} ({mean_std(d['random_' + k] for d in drops)})"
            for k in ("precision", "recall")]


def main():
    args = parse_args()
    set_threads(args.threads)
    base = dict({"epochs": args.epochs, "state": "ERROR", "show_progress": False,
                 "checkpoint_dir": os.path.join("saved", "bench-adt")}, **parse_overrides(args.set))
    # baselines count in one epoch: validate them, whatever eval_step says
    variants = [(name, name, {"eval_step": 1}) for name in args.baselines]
    variants += [(f"{m} {loss}", m, {"loss_type": loss}) for m in args.models for loss in args.losses]
    results = run_variants(variants, args.dataset, args.seeds, base, args.metrics)

    header = ["model", "loss"] + args.metrics + ["drop precision (random)", "drop recall (random)", "s / run"]
    rows = []
    for label, items in results.items():
        model, _, loss = label.partition(" ")
        rows.append([model, loss or "-"] + [mean_std(r["test_result"][m] for r in items) for m in args.metrics]
                    + drop_columns(items) + [f"{sum(r['seconds'] for r in items) / len(items):.0f}"])
    table = markdown_table(header, rows)
    print(table)
    settings = " ".join(args.set)
    compared = (f"{' vs '.join(args.losses)} on {', '.join(args.models)}" if args.models
                else f"baselines {', '.join(args.baselines)} (clean test)")
    body = (f"### ADT on {args.dataset}: {compared}"
            f"{' with ' + settings if settings else ''} (seeds {', '.join(map(str, args.seeds))})\n\n"
            f"Command: `{command_line()}`\n\n{table}\n")
    write_section(args.section or f"adt-{args.dataset}", body)


if __name__ == "__main__":
    run_benchmark(main)
