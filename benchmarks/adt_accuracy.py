"""ADT accuracy benchmark: CE vs T-CE vs R-CE on GMF, NeuMF and CDAE, with a
popularity baseline, over several seeds; writes a section of docs/benchmarks.md.

    python benchmarks/adt_accuracy.py --dataset=ml-100k --seeds 2020 2021 2022

Every run uses the package's defaults (properties/) unless overridden with
``--set key=value``; the test set is the clean one (ADT protocol), checkpoints are
picked by the validation metric of the dataset yaml.
"""

import argparse
import ast
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import command_line, markdown_table, mean_std, write_section  # noqa: E402
from recbole_denoise.quick_start import run_recbole_denoise  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--models", nargs="+", default=["GMF", "NeuMF", "CDAE"])
    parser.add_argument("--losses", nargs="+", default=["CE", "TCE", "RCE"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[2020, 2021, 2022])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--metrics", nargs="+", default=["recall@20", "ndcg@20", "recall@10"])
    parser.add_argument("--set", nargs="*", default=[], help="extra key=value config overrides")
    parser.add_argument("--section", default=None, help="docs/benchmarks.md section name")
    return parser.parse_args()


def overrides(args, seed):
    config = {"seed": seed, "epochs": args.epochs, "state": "ERROR", "show_progress": False,
              "checkpoint_dir": os.path.join("saved", "bench-adt")}
    for item in args.set:
        key, value = item.split("=", 1)
        try:
            config[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            config[key] = value
    return config


def run_one(model, dataset, config):
    started = time.time()
    result = run_recbole_denoise(model=model, dataset=dataset, config_dict=config)
    result["seconds"] = time.time() - started
    return result


def main():
    args = parse_args()
    runs = [("Pop", None)] + [(m, loss) for m in args.models for loss in args.losses]
    results = {}
    for model, loss in runs:
        for seed in args.seeds:
            config = overrides(args, seed)
            if model == "Pop":  # one counting epoch: validate it, whatever eval_step says
                config["eval_step"] = 1
            if loss is not None:
                config["loss_type"] = loss
            result = run_one(model, args.dataset, config)
            results.setdefault((model, loss), []).append(result)
            test = result["test_result"]
            print(f"{model:6s} {loss or '-':4s} seed {seed}: "
                  + ", ".join(f"{m} {test[m]:.4f}" for m in args.metrics)
                  + f" ({result['seconds']:.0f}s)", flush=True)

    header = ["model", "loss"] + args.metrics + ["drop precision (random)", "drop recall (random)", "s / run"]
    rows = []
    for (model, loss), items in results.items():
        drops = [r.get("denoising") for r in items]
        if loss == "TCE" and all(drops):
            precision = f"{mean_std([d['drop_precision'] for d in drops])} ({mean_std([d['random_precision'] for d in drops])})"
            recall = f"{mean_std([d['drop_recall'] for d in drops])} ({mean_std([d['random_recall'] for d in drops])})"
        else:
            precision = recall = ""
        rows.append([model, loss or "-"] + [mean_std(r["test_result"][m] for r in items) for m in args.metrics]
                    + [precision, recall, f"{sum(r['seconds'] for r in items) / len(items):.0f}"])
    table = markdown_table(header, rows)
    print(table)
    section = args.section or f"adt-{args.dataset}"
    body = (f"### ADT on {args.dataset}: CE vs T-CE vs R-CE (seeds {', '.join(map(str, args.seeds))})\n\n"
            f"Command: `{command_line()}`\n\n{table}\n")
    write_section(section, body)


if __name__ == "__main__":
    main()
