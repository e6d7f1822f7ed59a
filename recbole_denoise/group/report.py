"""The report of a group from its saved runs: per dataset and model variant, mean ± std
over seeds of each metric, a two-sided paired t-test over seeds against the spec's
baseline (``scipy.stats.ttest_rel`` on the seeds both have), the best mean per column
marked; written as ``report.md``, ``report.csv`` and ``report.tex`` in the output folder.

Only records made with the spec's current inputs count (a run of an edited spec is
missing until it runs again); failed runs are listed under each table.
"""

import csv
import math
import os
import statistics

from recbole_denoise.group.store import RunStore

# metrics where smaller is better: RecBole's list (recbole.evaluator.register.smaller_metrics)
SMALLER_IS_BETTER = ("averagepopularity", "giniindex", "logloss", "mae", "rmse")
# columns that describe a run rather than score it (the own-items evaluator's tie share and
# user counts): no test against the baseline and no best mark, whatever the table says;
# a spec adds its own under ``descriptive``
DESCRIPTIVE = ("tied_pair_share", "users_ranked", "users_skipped")
# metric prefixes that read another part of a run record than its test result
PREFIXES = {"valid/": "best_valid_result", "denoising/": "denoising"}


def metric_value(record, metric):
    """``metric`` of a run record: a test metric, ``valid/<metric>`` of the best
    validation, or ``denoising/<column>`` of the last epoch's denoising diagnostics (e.g.
    ``denoising/drop_precision``); ``None`` if the run did not report it."""
    part, key = "test_result", metric
    for prefix, name in PREFIXES.items():
        if metric.startswith(prefix):
            part, key = name, metric[len(prefix):]
    result = record.get(part) or {}
    value = {name.lower(): item for name, item in result.items()}.get(key)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def paired_p_value(values, baseline_values):
    """Two-sided p-value of ``scipy.stats.ttest_rel`` over the seeds present in both
    ``{seed: value}`` maps; ``None`` with fewer than two pairs or when every pair differs
    by the same amount (e.g. two deterministic rankers on a fixed split: the t statistic
    is infinite and scipy's p of 0 would claim certainty from a degenerate sample)."""
    from scipy.stats import ttest_rel

    seeds = sorted(set(values) & set(baseline_values))
    if len(seeds) < 2 or len({values[s] - baseline_values[s] for s in seeds}) == 1:
        return None
    p_value = float(ttest_rel([values[s] for s in seeds], [baseline_values[s] for s in seeds]).pvalue)
    return p_value if math.isfinite(p_value) else None


def summarize(spec, out):
    """``{dataset: {"tables": [...], "failed": [...]}}`` from the saved runs of ``spec``
    in ``out``, one table per entry of the spec's ``tables``: ``{"title", "metrics",
    "baseline", "rows"}``. A row: label, model, variant, runs (ok / total), seconds, peak
    memory and per metric ``n``, ``mean``, ``std`` (sample), ``p`` (against the table's
    baseline), ``values`` (``{seed: value}``) and ``best`` (within the table)."""
    store = RunStore(out)
    records = {run: store.load(run) for run in spec.runs}
    ok = {run: record for run, record in records.items() if record and record.get("status") == "ok"}
    summary = {}
    for dataset in spec.datasets:
        tables = []
        for table in spec.tables:
            metrics = list(table.metrics) or _reported_metrics(ok.values())
            rows = [_row(spec, dataset, label, metrics, ok) for label in table.rows]
            _mark_tests_and_best(spec, rows, metrics, table.baseline, table.mark_best)
            tables.append({"title": table.title, "metrics": metrics, "baseline": table.baseline, "rows": rows})
        failed = [(run, records[run]) for run in spec.runs
                  if run.dataset == dataset and records[run] and records[run].get("status") != "ok"]
        summary[dataset] = {"tables": tables, "failed": failed}
    return summary


def _row(spec, dataset, label, metrics, ok):
    runs = [run for run in spec.runs if run.dataset == dataset and run.label == label]
    done = [run for run in runs if run in ok]
    row = {"label": label, "model": runs[0].model, "variant": runs[0].variant,
           "runs": len(done), "of": len(runs),
           "seconds": _mean([ok[run].get("seconds") for run in done]),
           "peak_rss_mb": max([ok[run].get("peak_rss_mb") or 0 for run in done], default=None),
           "metrics": {}}
    for metric in metrics:
        values = {run.seed: metric_value(ok[run], metric) for run in done}
        values = {seed: value for seed, value in values.items() if value is not None}
        listed = list(values.values())
        row["metrics"][metric] = {
            "n": len(listed), "values": values, "mean": _mean(listed),
            "std": statistics.stdev(listed) if len(listed) > 1 else (0.0 if listed else None),
        }
    return row


def _mark_tests_and_best(spec, rows, metrics, baseline_label, mark_best=True):
    smaller = set(SMALLER_IS_BETTER) | set(spec.smaller_is_better)
    baseline = next((row for row in rows if row["label"] == baseline_label), None)
    for metric in metrics:
        descriptive = is_descriptive(spec, metric)
        for row in rows:
            cell = row["metrics"][metric]
            cell["descriptive"] = descriptive
            cell["p"] = (paired_p_value(cell["values"], baseline["metrics"][metric]["values"])
                         if baseline is not None and row is not baseline and not descriptive else None)
        means = [row["metrics"][metric]["mean"] for row in rows if row["metrics"][metric]["mean"] is not None]
        if means and mark_best and not descriptive:
            best = round(min(means) if {metric, _base(metric)} & smaller else max(means), 4)
            for row in rows:
                mean = row["metrics"][metric]["mean"]
                row["metrics"][metric]["best"] = mean is not None and round(mean, 4) == best


def is_descriptive(spec, metric):
    return metric in DESCRIPTIVE or metric in spec.descriptive


def write_report(spec, out, command=None, report_command=None):
    """Write ``report.md``, ``report.csv`` and ``report.tex`` into ``out``; return the
    markdown (naming ``command``, which runs the spec, and ``report_command`` when only
    the report was written)."""
    summary = summarize(spec, out)
    markdown = to_markdown(spec, summary, command, report_command)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "report.md"), "w", encoding="utf-8") as handle:
        handle.write(markdown)
    write_csv(spec, summary, os.path.join(out, "report.csv"))
    with open(os.path.join(out, "report.tex"), "w", encoding="utf-8") as handle:
        handle.write(to_latex(spec, summary))
    return markdown


def write_docs_section(path, name, body):
    """Put ``body`` between ``<!-- name:start -->`` and ``<!-- name:end -->`` in the
    markdown file at ``path`` (e.g. ``docs/benchmarks.md``), replacing an earlier body
    under the same markers or appending; the rest of the file is kept as it is."""
    import re

    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{body.rstrip()}\n{end}"
    text = open(path, encoding="utf-8").read() if os.path.exists(path) else "# Benchmarks\n"
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def format_p(p_value):
    if p_value is None:
        return "n/a"
    return f"{p_value:.3f}" if p_value >= 0.001 else f"{p_value:.1e}"


def format_mean_std(cell):
    if cell["mean"] is None:
        return "n/a"
    if cell.get("descriptive"):  # counts and shares: no padding to four decimals
        return f"{cell['mean']:.4g} ± {cell['std']:.3g}"
    return f"{cell['mean']:.4f} ± {cell['std']:.4f}"


def to_markdown(spec, summary, command=None, report_command=None):
    lines = [f"### {spec.name}", ""]
    if spec.description:
        lines += [spec.description, ""]
    if command:
        lines += [f"Command: `{command}`" + (f"; this report: `{report_command}`" if report_command else ""), ""]
    lines += [_legend(spec), ""]
    for dataset, part in summary.items():
        for table in part["tables"]:
            title = f"{dataset}: {table['title']}" if table["title"] else dataset
            lines += [f"#### {title}", ""] + _markdown_table(table) + [""]
        for run, record in part["failed"]:
            lines.append(f"- failed: {run.label}, seed {run.seed}: {record.get('error', '').splitlines()[0]}"
                         f" (`{os.path.join('runs', run.run_id + '.json')}`)")
        if part["failed"]:
            lines.append("")
    return "\n".join(lines)


def _markdown_table(table):
    metrics = table["metrics"]
    lines = ["| model | runs | " + " | ".join(metrics) + " | s / run | peak MB |",
             "|---|---|" + "---|" * len(metrics) + "---|---|"]
    for row in table["rows"]:
        cells = []
        for metric in metrics:
            cell = row["metrics"][metric]
            text = format_mean_std(cell)
            if cell.get("best"):
                text = f"**{text}**"
            if table["baseline"] and row["label"] != table["baseline"] and cell["mean"] is not None \
                    and not cell.get("descriptive"):
                text += f" (p {format_p(cell['p'])})"
            cells.append(text)
        lines.append(f"| {_row_name(table, row)} | {row['runs']}/{row['of']} | " + " | ".join(cells)
                     + f" | {_number(row['seconds'], '.0f')} | {_number(row['peak_rss_mb'], '.0f')} |")
    return lines


def write_csv(spec, summary, path):
    """One line per dataset, table, model variant and metric, full precision."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["dataset", "label", "model", "variant", "metric", "n", "mean", "std",
                         "p_value", "baseline", "best", "seeds", "values", "table"])
        for dataset, part in summary.items():
            for table in part["tables"]:
                for row in table["rows"]:
                    for metric in table["metrics"]:
                        cell = row["metrics"][metric]
                        writer.writerow([dataset, row["label"], row["model"], row["variant"], metric, cell["n"],
                                         _plain(cell["mean"]), _plain(cell["std"]), _plain(cell["p"]),
                                         table["baseline"] or "", int(bool(cell.get("best"))),
                                         " ".join(map(str, cell["values"])),
                                         " ".join(repr(value) for value in cell["values"].values()),
                                         table["title"] or ""])


def to_latex(spec, summary):
    parts = [f"% {spec.name}: {_legend(spec)}"]
    for dataset, part in summary.items():
        for table in part["tables"]:
            parts.append(_latex_table(spec, dataset, table))
    return "\n\n".join(parts) + "\n"


def _latex_table(spec, dataset, table):
    metrics = table["metrics"]
    title = f"{dataset}, {table['title']}" if table["title"] else dataset
    lines = [r"\begin{table}[t]", r"\centering",
             rf"\caption{{{_tex(spec.name)}: {_tex(title)}. Mean $\pm$ std over seeds"
             + (rf"; $p$: paired $t$-test against {_tex(table['baseline'])}" if table["baseline"] else "")
             + r"; best in bold.}",
             r"\begin{tabular}{l" + "c" * len(metrics) + "}", r"\hline",
             "Model & " + " & ".join(_tex(metric) for metric in metrics) + r" \\", r"\hline"]
    for row in table["rows"]:
        cells = []
        for metric in metrics:
            cell = row["metrics"][metric]
            if cell["mean"] is None:
                cells.append("n/a")
                continue
            mean, std = format_mean_std(cell).split(" ± ")
            text = (rf"\textbf{{{mean}}}" if cell.get("best") else mean) + rf" $\pm$ {std}"
            if table["baseline"] and row["label"] != table["baseline"] and not cell.get("descriptive"):
                text += rf" {{\scriptsize ($p$ {format_p(cell['p'])})}}"
            cells.append(text)
        lines.append(_tex(_row_name(table, row)) + " & " + " & ".join(cells) + r" \\")
    lines += [r"\hline", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines)


def _legend(spec):
    text = (f"Mean ± sample std over seeds {', '.join(map(str, spec.seeds))} (test metrics unless "
            f"`valid/` or `denoising/`); runs: finished / planned")
    if any(table.baseline for table in spec.tables):
        text += ("; p: two-sided paired t-test over seeds against the row marked (baseline) "
                 "(`scipy.stats.ttest_rel`)")
    text += "; the best mean per column of a table in bold"
    shown = [m for table in spec.tables for m in (table.metrics or ()) if is_descriptive(spec, m)]
    if shown:
        text += f" ({', '.join(dict.fromkeys(shown))} describe the runs: no test, no bold)"
    return text + "."


def _row_name(table, row):
    return row["label"] + (" (baseline)" if row["label"] == table["baseline"] else "")


def _reported_metrics(records):
    metrics = []
    for record in records:
        for key in record.get("test_result") or {}:
            if key.lower() not in metrics and metric_value(record, key.lower()) is not None:
                metrics.append(key.lower())
    return metrics


def _base(metric):
    return metric.split("/", 1)[-1].split("@")[0]


def _mean(values):
    values = [value for value in values if value is not None]
    return statistics.mean(values) if values else None


def _number(value, spec):
    return "n/a" if value is None else format(value, spec)


def _plain(value):
    return "" if value is None else repr(float(value))


_TEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def _tex(text):
    return "".join(_TEX_ESCAPES.get(char, char) for char in str(text))
