"""Helpers shared by the benchmark scripts: the command line, seeds, summaries, markdown
sections.

A script's ``main`` parses its arguments with :func:`parse_benchmark_args` (which keeps
them away from RecBole's ``Config``) and runs under :func:`run_benchmark` (warning
filters, SIGTERM handled like Ctrl-C)."""

import os
import re
import resource
import shlex
import statistics
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCHMARKS_MD = os.path.join(ROOT, "docs", "benchmarks.md")


def mean_std(values):
    """``'0.1234 ± 0.0012'`` (sample std; ``± 0`` for a single value)."""
    values = [float(v) for v in values if v is not None]
    if not values:
        return "n/a"
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.4f} ± {std:.4f}"


def peak_rss_mb():
    """Peak resident memory of this process so far, in MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# this process's command line as it was before parse_benchmark_args hid it from RecBole
_ARGV = []


def parse_benchmark_args(parser):
    """``parser.parse_args()``, then leave only the program name in ``sys.argv``: RecBole's
    ``Config`` reads ``sys.argv`` itself, took ``--key=value`` arguments of the script as
    config overrides and warned about all others ("command line args [...] will not be
    used in RecBole"). The benchmark's config is what it passes to ``Config``."""
    args = parser.parse_args()
    _ARGV[:] = sys.argv
    sys.argv[1:] = []
    return args


def run_benchmark(main):
    """Run a benchmark's ``main()`` as ``run_recbole_denoise.py`` runs: known-harmless
    warnings of the pinned RecBole filtered, SIGTERM stops it like Ctrl-C (exit status
    143 / 130, the last resume point intact)."""
    from recbole_denoise.runtime import run_entry_point

    run_entry_point(main)


def command_line():
    """This process's command, quoted so that it can be pasted back into a shell."""
    argv = _ARGV or sys.argv
    return "python " + shlex.join([os.path.relpath(argv[0], ROOT)] + argv[1:])


def write_section(name, body, path=BENCHMARKS_MD):
    """Put ``body`` between ``<!-- name:start -->`` and ``<!-- name:end -->`` in
    ``docs/benchmarks.md``, replacing an earlier run of the same benchmark."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{body.rstrip()}\n{end}"
    text = open(path, encoding="utf-8").read() if os.path.exists(path) else "# Benchmarks\n"
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def markdown_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def set_threads(threads):
    """Pin torch's intra-op threads: two 2-thread processes on 2 cores slow each
    other down several-fold (OpenMP threads wait on each other), one thread each does not."""
    if threads:
        import torch

        torch.set_num_threads(threads)


def median_step_seconds(trainer, train_data, batches):
    """Median wall time of one training step (forward, backward, optimiser) over the
    first ``batches`` batches of ``train_data``."""
    import time

    import numpy as np

    seconds = []
    for index, interaction in enumerate(train_data):
        if index == batches:
            break
        interaction = interaction.to(trainer.device)
        started = time.perf_counter()
        trainer.optimizer.zero_grad()
        trainer.model.calculate_loss(interaction).backward()
        trainer.optimizer.step()
        seconds.append(time.perf_counter() - started)
    return float(np.median(seconds))


def parse_overrides(items):
    """``["key=value", ...]`` from the command line as a config dict (values as Python
    literals where they parse, else strings)."""
    import ast

    config = {}
    for item in items:
        key, value = item.split("=", 1)
        try:
            config[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            config[key] = value
    return config


def run_variants(variants, dataset, seeds, base_config, metrics):
    """Train and test every ``(label, model, overrides)`` of ``variants`` once per seed.

    Returns ``{label: [result, ...]}`` with RecBole's result dicts plus ``seconds``;
    prints one line per run as it finishes.
    """
    import time

    from recbole_denoise.quick_start import run_recbole_denoise

    results = {}
    for label, model, overrides in variants:
        for seed in seeds:
            config = dict(base_config, seed=seed, **overrides)
            started = time.time()
            result = run_recbole_denoise(model=model, dataset=dataset, config_dict=config)
            result["seconds"] = time.time() - started
            results.setdefault(label, []).append(result)
            test = result["test_result"]
            print(f"{label:28s} seed {seed}: " + ", ".join(f"{m} {test[m]:.4f}" for m in metrics)
                  + f" ({result['seconds']:.0f}s)", flush=True)
    return results
