"""Helpers shared by the benchmark scripts: the command line, seeds, summaries, markdown
sections. A section goes to ``saved/benchmarks/<section>.md`` (``--out``); only
``--update-docs`` edits the tracked ``docs/benchmarks.md``.

A script's ``main`` parses its arguments with :func:`parse_benchmark_args` (which keeps
them away from RecBole's ``Config``) and runs under :func:`run_benchmark` (warning
filters, SIGTERM handled like Ctrl-C)."""

import os
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
# where write_section puts a section: an output folder, and docs/benchmarks.md only when asked
_OUTPUT = {"out": os.path.join("saved", "benchmarks"), "update_docs": False}


def parse_benchmark_args(parser):
    """``parser.parse_args()`` with the output options every benchmark has (``--out``,
    ``--update-docs``), then leave only the program name in ``sys.argv``: RecBole's
    ``Config`` reads ``sys.argv`` itself, took ``--key=value`` arguments of the script as
    config overrides and warned about all others ("command line args [...] will not be
    used in RecBole"). The benchmark's config is what it passes to ``Config``."""
    parser.add_argument("--out", default=_OUTPUT["out"],
                        help="folder the result section is written to, as <section>.md (default: %(default)s)")
    parser.add_argument("--update-docs", action="store_true",
                        help="also replace the benchmark's section of docs/benchmarks.md (the tracked file)")
    args = parser.parse_args()
    _OUTPUT.update(out=args.out, update_docs=args.update_docs)
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


def write_section(name, body, docs=BENCHMARKS_MD):
    """Write ``body`` to ``<--out>/<name>.md``; with ``--update-docs`` also put it between
    ``<!-- name:start -->`` and ``<!-- name:end -->`` in ``docs`` (``docs/benchmarks.md``),
    replacing an earlier run of the same benchmark. Returns the paths written."""
    from recbole_denoise.group.report import write_docs_section

    os.makedirs(_OUTPUT["out"], exist_ok=True)
    path = os.path.join(_OUTPUT["out"], f"{name}.md")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(body.rstrip() + "\n")
    written = [path]
    if _OUTPUT["update_docs"]:
        write_docs_section(docs, name, body)
        written.append(docs)
    print(f"written: {', '.join(written)}", flush=True)
    return written


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
