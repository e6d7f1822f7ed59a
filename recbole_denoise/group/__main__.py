"""``python -m recbole_denoise.group SPEC.yaml``: run a group spec, then write its report.

Exit status: 0 when every run of the spec has a result, 1 when some failed, 2 for a spec
or command line that cannot run, 130 / 143 when interrupted (saved runs stay; the same
command continues).
"""

import argparse
import os
import shlex
import sys

from recbole_denoise.group.report import write_docs_section, write_report
from recbole_denoise.group.runner import ResourceError, run_group
from recbole_denoise.group.spec import SpecError, load_spec
from recbole_denoise.group.store import RunStore


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m recbole_denoise.group",
        description="Run every model variant of a spec on every dataset and seed (on Ray), one json file "
                    "per run; a rerun skips finished runs. Then write the report (markdown, CSV, LaTeX).")
    parser.add_argument("spec", help="the group spec (yaml)")
    parser.add_argument("--out", default=None, help="output folder (default: saved/group/<spec name>/)")
    parser.add_argument("--report", action="store_true", help="only write the report from the saved runs")
    parser.add_argument("--docs", default=None, metavar="MARKDOWN",
                        help="also put the report into this markdown file (e.g. docs/benchmarks.md), between "
                             "<!-- group:<spec name>:start/end --> markers, replacing an earlier report of the spec; "
                             "without it no tracked file is touched")
    parser.add_argument("--backend", choices=["ray", "local"], default="ray",
                        help="ray (default): one Ray task per run; local: one run after another in this "
                             "process (tests, debugging)")
    parser.add_argument("--cpus", type=int, default=None,
                        help="CPUs of the local Ray instance (default: all cores)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads of a run; each Ray task asks for that many CPUs (default 1)")
    parser.add_argument("--address", default=None,
                        help="submit the runs to the Ray cluster at this address (e.g. auto, ray://host:10001)")
    parser.add_argument("--gpus-per-run", type=float, default=0, help="GPUs each Ray task asks for (default 0)")
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error(f"--threads must be >= 1, got {args.threads}")
    if args.cpus is not None and args.cpus < args.threads:
        parser.error(f"--cpus {args.cpus} is fewer than the --threads {args.threads} of one run")
    if args.backend == "local" and (args.address or args.gpus_per_run):
        parser.error("--address and --gpus-per-run need --backend ray")
    return args


def main(argv=None):
    args = parse_args(argv)
    given = sys.argv[1:] if argv is None else list(argv)
    command = "python -m recbole_denoise.group " + shlex.join(given)
    sys.argv[1:] = []  # RecBole's Config reads --key=value from sys.argv
    try:
        spec = load_spec(args.spec)
    except SpecError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    out = args.out or os.path.join("saved", "group", spec.name)
    if not args.report:
        try:
            run_group(spec, out, backend=args.backend, cpus=args.cpus, threads=args.threads,
                      address=args.address, gpus_per_run=args.gpus_per_run)
        except ResourceError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    report_command = None
    if args.report:  # the report names the command that runs the spec, and the one that wrote it
        command, report_command = f"python -m recbole_denoise.group {shlex.quote(args.spec)}", command
    markdown = write_report(spec, out, command=command, report_command=report_command)
    print(markdown)
    print(f"report: {', '.join(os.path.join(out, 'report.' + ext) for ext in ('md', 'csv', 'tex'))}")
    if args.docs:
        write_docs_section(args.docs, f"group:{spec.name}", markdown)
        print(f"report written into {args.docs} (section group:{spec.name})")
    store = RunStore(out)
    unfinished = [run for run in spec.runs if not store.finished(run)]
    if unfinished:
        print(f"{len(unfinished)} of {len(spec.runs)} runs have no result (failed or not run yet)",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    from recbole_denoise.runtime import run_entry_point

    sys.exit(run_entry_point(main))
