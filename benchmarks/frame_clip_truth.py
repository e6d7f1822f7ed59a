"""Do FRAME's clip scores recover where simulated users skip? Rank correlation of the
clip scores of held-out (test) views with the simulator's planted continuation logits,
beside an untrained FRAME and the position prior; writes a section of docs/benchmarks.md.

    python benchmarks/frame_clip_truth.py --seeds 2020 2021 2022

Two correlations (recbole_denoise/evaluator/clip_truth.py): pooled over every (view,
clip) cell, and within each view across its clips (the view's own skip order, what
FRAME's Fig. 6 shows), and within each view over the clips whose planted position
bias b_c is equal (there only the user's interest in each clip's topic decides). The
position prior scores clip c by the planted b_c alone: it
knows the opening clip loses most viewers but nothing about the user.
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import (  # noqa: E402
    command_line, markdown_table, mean_std, parse_benchmark_args, parse_overrides, run_benchmark, set_threads,
    write_section,
)
from recbole.utils import init_seed  # noqa: E402
from recbole_denoise.config import Config  # noqa: E402
from recbole_denoise.evaluator.clip_truth import (  # noqa: E402
    clip_scores_and_truth, pooled_spearman, within_view_spearman,
)
from recbole_denoise.quick_start import prepare  # noqa: E402

VARIANTS = [
    ("FRAME", {}),
    ("FRAME negative_clips=False", {"negative_clips": False}),
    ("FRAME visual_features=none", {"visual_features": "none"}),
]


def correlations(scores, truth, same_bias):
    """Pooled, within-view, and within-view over the clips of equal planted ``b_c``
    (where only the user's interest in the clip's topic decides; the prior has no order)."""
    return (pooled_spearman(scores, truth), within_view_spearman(scores, truth),
            within_view_spearman(scores[:, same_bias], truth[:, same_bias]))


def equal_bias_clips(bias):
    """Clip positions whose ``b_c`` is the most common value (clips 2..4 of the bundled sample)."""
    values, counts = np.unique(bias, return_counts=True)
    return bias == values[counts.argmax()]


def one_seed(dataset_name, overrides, seed):
    config = Config(model="FRAME", dataset=dataset_name, config_dict=dict(overrides, seed=seed))
    init_seed(config["seed"], config["reproducibility"])
    _, (train, valid, test), model, trainer = prepare(config)
    bias = np.asarray(test.dataset.config["simulation"]["bias"], dtype=np.float64)
    same_bias = equal_bias_clips(bias)
    untrained = correlations(*clip_scores_and_truth(model, test.dataset), same_bias)
    trainer.fit(train, valid, saved=True, show_progress=False)
    trainer.evaluate(valid, load_best_model=True)  # loads the best weights
    scores, truth = clip_scores_and_truth(model, test.dataset)
    prior = correlations(np.broadcast_to(bias, truth.shape), truth, same_bias)  # b_c alone; ties: mean ranks
    return {"trained": correlations(scores, truth, same_bias), "untrained": untrained, "prior": prior}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="microvideo-sim")
    parser.add_argument("--seeds", nargs="+", type=int, default=[2020, 2021, 2022])
    parser.add_argument("--set", nargs="*", default=[], help="extra key=value config overrides")
    parser.add_argument("--threads", type=int, default=None)
    args = parse_benchmark_args(parser)
    set_threads(args.threads)
    base = dict({"state": "ERROR", "show_progress": False, "checkpoint_dir": os.path.join("saved", "bench-truth")},
                **parse_overrides(args.set))
    rows, prior = [], None
    for label, overrides in VARIANTS:
        runs = [one_seed(args.dataset, dict(base, **overrides), seed) for seed in args.seeds]
        for run in runs:
            print(label, run, flush=True)
        rows.append([label] + [mean_std(r["trained"][k] for r in runs) for k in range(3)])
        rows.append([f"{label}, untrained"] + [mean_std(r["untrained"][k] for r in runs) for k in range(3)])
        prior = prior or runs[0]["prior"]
    rows.append(["position prior b_c (planted)"] + [f"{value:.4f}" for value in prior])
    table = markdown_table(["clip scores of", "Spearman, pooled (view, clip) cells", "within a view",
                            "within a view, clips of equal b_c"], rows)
    print(table)
    write_section(f"frame-clip-truth-{args.dataset}",
                  f"### FRAME clip scores vs the planted skips on {args.dataset} "
                  f"(test views; seeds {', '.join(map(str, args.seeds))})\n\nCommand: `{command_line()}`\n\n{table}\n")


if __name__ == "__main__":
    run_benchmark(main)
