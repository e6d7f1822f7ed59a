"""Resume check: a run stopped by SIGTERM right after the resume point of epoch k, then
resumed with ``resume_file``, against the same run left alone (same seed, same thread
count). Compares every epoch's training loss, the epoch training stopped at, the
early-stopping counter, the best validation score and result, the test metrics and, for
the DenoiseTrainer, the denoising diagnostics (in memory and in the csv file).

    python benchmarks/resume_check.py                 # prints it, writes saved/benchmarks/resume.md
    python benchmarks/resume_check.py --update-docs   # also replaces the "resume" section of docs/reliability.md

Each case runs three times (alone, interrupted, resumed) through ``run_recbole_denoise``;
the interrupt is a real SIGTERM that the process sends itself from inside the run, caught
by ``runtime.stop_on_sigterm`` as on the command line.
"""

import argparse
import csv
import os
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import (  # noqa: E402
    ROOT, command_line, markdown_table, parse_benchmark_args, run_benchmark, set_threads, write_section,
)

RELIABILITY_MD = os.path.join(ROOT, "docs", "reliability.md")

# (label, model, dataset, config, epoch after whose resume point the run is stopped)
CASES = [
    ("GMF, T-CE (DenoiseTrainer), issue #9", "GMF", "ml-100k",
     {"loss_type": "TCE", "epochs": 5, "num_gradual": 200}, 2),
    ("DPSkipNet (torch sampling, cosine lr)", "DPSkipNet", "microvideo-sim", {"epochs": 4}, 1),
    ("RecBole BPR, eval_step 2 (stopped after an epoch without validation)", "BPR", "ml-100k",
     {"epochs": 5, "eval_step": 2}, 2),
]


def run(model, dataset, config, checkpoint_dir, stop_after=None, resume_file=None):
    """``(trainer, result)``; ``result`` is the ``TrainingInterrupted`` of a stopped run."""
    from recbole_denoise.quick_start import run_recbole_denoise
    from recbole_denoise.runtime import TrainingInterrupted, stop_on_sigterm
    from recbole_denoise.trainer import SafeCheckpointMixin

    trainers = []
    fit, save = SafeCheckpointMixin.fit, SafeCheckpointMixin.save_resume_point

    def recording_fit(self, *args, **kwargs):
        trainers.append(self)
        return fit(self, *args, **kwargs)

    def save_then_sigterm(self, epoch):
        save(self, epoch)
        if epoch == stop_after:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler raises at the next Python instruction

    config = dict(config, state="ERROR", show_progress=False, checkpoint_dir=checkpoint_dir)
    if resume_file:
        config["resume_file"] = resume_file
    SafeCheckpointMixin.fit = recording_fit
    SafeCheckpointMixin.save_resume_point = save_then_sigterm
    stop_on_sigterm()  # the handler resets itself after one signal
    try:
        result = run_recbole_denoise(model=model, dataset=dataset, config_dict=config)
    except TrainingInterrupted as stopped:
        if stopped.signal_name != "SIGTERM":
            raise
        result = stopped
    finally:
        SafeCheckpointMixin.fit, SafeCheckpointMixin.save_resume_point = fit, save
    return trainers[0], result


def csv_rows(trainer):
    diagnostics = getattr(trainer, "diagnostics", None)
    if diagnostics is None or not os.path.exists(diagnostics.csv_path):
        return None
    with open(diagnostics.csv_path, newline="") as handle:
        return list(csv.DictReader(handle))


def check(model, dataset, config, stop_after, folder):
    alone_trainer, alone = run(model, dataset, config, os.path.join(folder, "alone"))
    _, stopped = run(model, dataset, config, os.path.join(folder, "stopped"), stop_after=stop_after)
    if not getattr(stopped, "resume_file", None):
        raise RuntimeError(f"{model}: the run was not stopped after epoch {stop_after} ({stopped})")
    resumed_trainer, resumed = run(model, dataset, config, os.path.join(folder, "resumed"),
                                   resume_file=stopped.resume_file)
    losses = alone_trainer.train_loss_dict, resumed_trainer.train_loss_dict
    retrained = sorted(epoch for epoch in losses[1] if epoch > stop_after)
    checks = {
        "losses": losses[0] == losses[1],
        "cur_step": alone_trainer.cur_step == resumed_trainer.cur_step,
        "best valid": (alone["best_valid_score"], alone["best_valid_result"])
        == (resumed["best_valid_score"], resumed["best_valid_result"]),
        "test": alone["test_result"] == resumed["test_result"],
    }
    if hasattr(alone_trainer, "diagnostics"):
        checks["diagnostics"] = (alone_trainer.diagnostics.history == resumed_trainer.diagnostics.history
                                 and csv_rows(alone_trainer) == csv_rows(resumed_trainer)
                                 and alone.get("denoising") == resumed.get("denoising"))
    largest = max((abs(losses[0][e] - losses[1].get(e, float("nan"))) for e in losses[0]), default=0.0)
    metric = next(iter(alone["test_result"]))
    return {
        "resumed at epoch": resumed_trainer.start_epoch,
        "epochs trained again": f"{retrained[0]}-{retrained[-1]}" if retrained else "none",
        "largest loss difference": f"{largest:.1e}" if largest else "0",
        "test": f"{metric} {alone['test_result'][metric]} / {resumed['test_result'][metric]}",
        "best valid": f"{alone['best_valid_score']} / {resumed['best_valid_score']}",
        "equal": ", ".join(name for name, same in checks.items() if same) or "nothing",
        "differ": ", ".join(name for name, same in checks.items() if not same) or "nothing",
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parse_benchmark_args(parser)
    set_threads(args.threads)
    import torch

    header = ["case", "resumed at epoch", "epochs trained again", "largest loss difference", "test (alone / resumed)",
              "best valid score (alone / resumed)", "equal", "differ"]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for index, (label, model, dataset, config, stop_after) in enumerate(CASES):
            found = check(model, dataset, config, stop_after, os.path.join(folder, str(index)))
            settings = ", ".join(f"{key}={value}" for key, value in config.items())
            rows.append([f"{label}: {model} on {dataset} ({settings}), stopped after epoch {stop_after}"]
                        + list(found.values()))
            print(" | ".join(str(cell) for cell in rows[-1]), flush=True)
    body = "\n".join([
        "## Resume",
        "",
        "Written by `python benchmarks/resume_check.py --update-docs` (do not edit by hand). Each case runs",
        "three times on the same seed and thread count (here "
        f"{torch.get_num_threads()} torch thread{'s' if torch.get_num_threads() > 1 else ''}): left alone; stopped by a real",
        "SIGTERM right after the resume point of epoch k is written; resumed with `--resume_file`.",
        "Compared for equality, not closeness: every epoch's training loss, the early-stopping",
        "counter, the best validation score and result, the test metrics and, for the",
        "DenoiseTrainer, the denoising diagnostics in memory, in the result and in",
        "`<run>-denoising.csv` (each epoch once).",
        "",
        "A resume point is written at the end of every epoch (after the validation on epochs",
        "that validate, so also every epoch when `eval_step` > 1) and holds every random state:",
        "torch (and CUDA), numpy's global state (RecBole's negative samplers), python's `random`",
        "and each dataloader's shuffling generator. Resuming with another thread count is",
        "warned about. `tests/test_resume.py` checks the same on small data: GMF T-CE stopped",
        "mid-validation (the csv then holds an epoch past the resume point), DPSkipNet, RecBole's",
        "BPR from an epoch without validation, an early-stopped run resumed twice.",
        "",
        f"Measured with `{command_line()}`:",
        "",
        markdown_table(header, rows),
    ])
    print(body)
    write_section("resume", body, docs=RELIABILITY_MD)


if __name__ == "__main__":
    run_benchmark(main)
