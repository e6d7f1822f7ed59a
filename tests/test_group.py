"""Group runs (``python -m recbole_denoise.group``): a spec's grid runs on Ray or in
process, saves one json file per run, skips finished runs when run again, records a
failed run and finishes the others; the report's numbers are the saved runs' numbers."""

import csv
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys

import pytest
import yaml
from scipy.stats import ttest_rel

from conftest import write_planted_dataset
from recbole_denoise.group import SpecError, load_spec, run_group
from recbole_denoise.group.__main__ import main
from recbole_denoise.group.report import format_p, metric_value
from recbole_denoise.group.store import RunStore
from support import PLANTED

SEEDS = [2020, 2021, 2022]


def write_spec(folder, data_path, seeds=SEEDS, bad_variant=True, ce_config=None, **extra):
    # a nested setting, which RecBole's Config completes in place
    ce_config = ce_config or {"loss_type": "CE", "train_neg_sample_args": {"distribution": "uniform", "sample_num": 1}}
    variants = [{"label": "CE", "config": ce_config}]
    if bad_variant:
        variants.append({"label": "bad", "config": {"epochs": -1}})  # rejected by the settings check
    spec = {
        "name": "tiny",
        "datasets": [{"name": "planted", "config": dict(PLANTED, data_path=data_path, use_gpu=False)}],
        "seeds": seeds,
        "metrics": ["recall@10", "ndcg@10", "valid/recall@10"],
        "baseline": "Popularity",
        "settings": {"epochs": 2, "reproducibility": True},
        "models": ["Popularity", {"model": "GMF", "variants": variants}],
        **extra,
    }
    path = os.path.join(folder, "tiny.yaml")
    with open(path, "w") as handle:
        yaml.safe_dump(spec, handle)
    return path


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    """``(spec path, output folder, records of the runs executed)`` of a tiny grid run once
    in process (``--backend local``); 3 of its 9 runs fail. RecBole's ``log/`` goes to the
    temporary folder."""
    root = tmp_path_factory.mktemp("group")
    write_planted_dataset(str(root / "data"))
    spec_path, out = write_spec(str(root), str(root / "data")), str(root / "out")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        executed = run_group(load_spec(spec_path), out, backend="local", log=lambda *args: None)
    return spec_path, out, executed


def load_records(out):
    runs = os.path.join(out, "runs")
    return {name[:-5]: json.load(open(os.path.join(runs, name))) for name in os.listdir(runs)
            if name.endswith(".json")}


def test_local_grid_saves_every_run_records_failures_and_resumes(grid, tmp_path, monkeypatch):
    spec_path, out, executed = grid
    spec = load_spec(spec_path)
    assert [run.label for run in spec.runs[::3]] == ["Popularity", "GMF CE", "GMF bad"]
    assert len(executed) == 9

    records = load_records(out)
    assert sorted(records) == sorted(run.run_id for run in spec.runs)
    ok = [r for r in records.values() if r["status"] == "ok"]
    failed = [r for r in records.values() if r["status"] == "failed"]
    assert len(ok) == 6 and {r["label"] for r in failed} == {"GMF bad"}
    for record in failed:
        assert "epochs must be an integer >= 1" in record["error"]
        assert "Traceback" in record["traceback"]
    for record in ok:
        assert set(record["test_result"]) >= {"recall@10", "ndcg@10"}
        assert record["best_valid_result"]["recall@10"] >= 0
        assert record["seconds"] > 0 and record["peak_rss_mb"] > 0
        # the exact final config, with the run's own checkpoint folder
        assert record["config"]["seed"] == record["seed"] and record["config"]["state"] == "ERROR"
        assert record["config"]["checkpoint_dir"] == record["checkpoint_dir"]
        assert record["checkpoint_dir"].endswith(os.path.join("checkpoints", record["id"]))
        assert os.listdir(record["checkpoint_dir"])
    gmf = next(r for r in ok if r["label"] == "GMF CE")
    assert gmf["config"]["loss_type"] == "CE" and len(gmf["epochs"]["train_loss"]) == 2
    assert "denoising" in gmf and len(gmf["epochs"]["denoising"]) == 2
    assert [entry[0] for entry in gmf["epochs"]["valid"]] == [0, 1]
    assert max(entry[1] for entry in gmf["epochs"]["valid"]) == gmf["best_valid_score"]

    # a rerun (in a copy of the output) runs only what has no result: the failed runs
    monkeypatch.chdir(tmp_path)
    shutil.copytree(out, tmp_path / "out")
    out = str(tmp_path / "out")
    again = run_group(spec, out, backend="local", log=lambda *args: None)
    assert sorted(r["id"] for r in again) == sorted(r["id"] for r in failed)
    # a variant whose config changed runs again, the others are kept
    edited = write_spec(str(tmp_path), spec.runs[0].config_dict["data_path"], bad_variant=False,
                        ce_config={"loss_type": "CE", "embedding_size": 8})
    again = run_group(load_spec(edited), out, backend="local", log=lambda *args: None)
    assert [r["label"] for r in again] == ["GMF CE"] * 3
    assert all(r["config"]["embedding_size"] == 8 for r in again)


def test_report_matches_the_saved_runs(grid, capsys):
    spec_path, out, _ = grid
    assert main([spec_path, "--out", out, "--report"]) == 1  # the bad variant failed
    records = load_records(out)
    spec = load_spec(spec_path)

    def values(label, metric):
        split, key = ("best_valid_result", metric[6:]) if metric.startswith("valid/") else ("test_result", metric)
        return [records[run.run_id][split][key] for run in spec.runs if run.label == label]

    rows = {(row["label"], row["metric"]): row for row in csv.DictReader(open(os.path.join(out, "report.csv")))}
    markdown = open(os.path.join(out, "report.md")).read()
    assert markdown in capsys.readouterr().out
    for metric in spec.metrics:
        gmf, pop = values("GMF CE", metric), values("Popularity", metric)
        row = rows[("GMF CE", metric)]
        assert float(row["mean"]) == pytest.approx(statistics.mean(gmf), abs=1e-12)
        assert float(row["std"]) == pytest.approx(statistics.stdev(gmf), abs=1e-12)
        p_value = ttest_rel(gmf, pop).pvalue
        assert float(row["p_value"]) == pytest.approx(p_value, rel=1e-9)
        assert rows[("Popularity", metric)]["p_value"] == ""  # the baseline itself
        assert rows[("GMF bad", metric)]["n"] == "0"
        cell = f"{statistics.mean(gmf):.4f} ± {statistics.stdev(gmf):.4f}"
        gmf_is_best = round(statistics.mean(gmf), 4) >= round(statistics.mean(pop), 4)
        assert (f"**{cell}** (p {format_p(p_value)})" if gmf_is_best else f"{cell} (p {format_p(p_value)})") in markdown
        assert row["best"] == str(int(gmf_is_best))
    assert "| Popularity (baseline) | 3/3 |" in markdown and "| GMF bad | 0/3 |" in markdown
    assert markdown.count("- failed: GMF bad, seed") == 3
    latex = open(os.path.join(out, "report.tex")).read()
    assert r"\begin{tabular}{lccc}" in latex and r"GMF CE &" in latex and r"recall@10" in latex



def test_ray_grid_runs_in_worker_processes(tmp_path, monkeypatch):
    ray = pytest.importorskip("ray")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    write_planted_dataset(str(tmp_path / "data"))
    spec = load_spec(write_spec(str(tmp_path), str(tmp_path / "data"), seeds=[1, 2]))
    out = str(tmp_path / "out")
    lines = []

    def on_sigterm(signum, frame):
        raise KeyboardInterrupt("SIGTERM")

    before = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        executed = run_group(spec, out, backend="ray", cpus=2, threads=1, log=lines.append)
        assert signal.getsignal(signal.SIGTERM) is on_sigterm  # the driver's handler stays
    finally:
        signal.signal(signal.SIGTERM, before)
    assert not ray.is_initialized()  # the Ray it started is shut down
    assert len(executed) == 6 and len(load_records(out)) == 6 and any("[6/6]" in line for line in lines)
    ok = [r for r in executed if r["status"] == "ok"]
    assert sorted(r["label"] for r in ok) == ["GMF CE", "GMF CE", "Popularity", "Popularity"], \
        [r.get("traceback") for r in executed]
    assert all(r["pid"] != os.getpid() and r["peak_rss_scope"] == "run" for r in executed)
    assert all(r["config"]["state"] == "ERROR" and r["test_result"]["recall@10"] >= 0 for r in ok)
    # a rerun would run only the two failed runs
    assert sorted(run.run_id for run in spec.runs if not RunStore(out).finished(run)) \
        == sorted(r["id"] for r in executed if r["status"] == "failed")


def test_spec_errors_name_the_problem(tmp_path, capsys):
    path = write_spec(str(tmp_path), "data", baseline="GMF TCE")
    with pytest.raises(SpecError, match="baseline 'GMF TCE' is not a model variant"):
        load_spec(path)
    path = write_spec(str(tmp_path), "data", sedes=[1])
    with pytest.raises(SpecError, match="unknown key"):
        load_spec(path)
    # the command says so and exits with status 2, running nothing
    assert main([path, "--out", str(tmp_path / "out"), "--backend", "local"]) == 2
    assert "unknown key(s) sedes" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "out")


def test_an_interrupted_grid_keeps_finished_runs_and_continues(tmp_path, monkeypatch):
    """The driver saves each run as it finishes: after an interrupt the next call runs
    only the rest (here in process, with a stand-in for the training)."""
    spec = load_spec(write_spec(str(tmp_path), "data", seeds=[1, 2], bad_variant=False))
    calls = []

    def fake_run(run, checkpoint_dir, threads=1):
        calls.append(run.run_id)
        if len(calls) == 2:
            raise KeyboardInterrupt()
        return {"id": run.run_id, "label": run.label, "dataset": run.dataset, "seed": run.seed,
                "inputs": run.inputs(), "status": "ok", "seconds": 0.0, "best_valid_score": 0.5,
                "test_result": {"recall@10": 0.5}}

    monkeypatch.setattr("recbole_denoise.group.runner.execute_run", fake_run)
    out = str(tmp_path / "out")
    with pytest.raises(KeyboardInterrupt):
        run_group(spec, out, backend="local", log=lambda *args: None)
    assert sorted(load_records(out)) == [spec.runs[0].run_id]
    rest = run_group(spec, out, backend="local", log=lambda *args: None)
    assert [r["id"] for r in rest] == [run.run_id for run in spec.runs[1:]]


def test_metric_columns_read_test_validation_and_denoising_results():
    record = {"test_result": {"Recall@10": 0.25}, "best_valid_result": {"recall@10": 0.5},
              "denoising": {"drop_precision": 0.3, "dropped": 0, "note": "text"}}
    assert metric_value(record, "recall@10") == 0.25
    assert metric_value(record, "valid/recall@10") == 0.5
    assert metric_value(record, "denoising/drop_precision") == 0.3
    assert metric_value(record, "denoising/note") is None and metric_value(record, "ndcg@10") is None


def test_importing_ray_keeps_the_drivers_sigterm_handler():
    """``import ray`` installs a SIGTERM handler that exits with status 15: the runner keeps
    the package's (KeyboardInterrupt, so the unfinished runs are cancelled), here in a fresh
    interpreter where Ray is not imported yet."""
    code = (
        "import signal\n"
        "from recbole_denoise.runtime import stop_on_sigterm\n"
        "from recbole_denoise.group.runner import _signal_handlers_kept, import_ray\n"
        "stop_on_sigterm()\n"
        "handler = signal.getsignal(signal.SIGTERM)\n"
        "with _signal_handlers_kept():\n"
        "    import_ray()\n"
        "print(signal.getsignal(signal.SIGTERM) is handler)\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "True", done.stderr


def test_tables_select_rows_and_test_against_their_own_baseline(grid, tmp_path):
    """The same saved runs reported as two tables: each has its rows, its metrics and its
    baseline, and a p-value is the paired test against that table's baseline."""
    spec_path, out, _ = grid
    raw = yaml.safe_load(open(spec_path))
    raw["tables"] = [{"title": "against GMF", "rows": ["Popularity", "GMF CE"], "baseline": "GMF CE",
                      "metrics": ["recall@10"]},
                     {"title": "no test", "rows": ["GMF CE"], "baseline": None}]
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(raw))
    spec = load_spec(str(path))
    assert main([str(path), "--out", out, "--report"]) == 1  # the bad variant of the spec still has no result
    records = load_records(out)

    def values(label):
        return [records[run.run_id]["test_result"]["recall@10"] for run in spec.runs if run.label == label]

    rows = list(csv.DictReader(open(os.path.join(out, "report.csv"))))
    first = {row["label"]: row for row in rows if row["table"] == "against GMF"}
    assert sorted(first) == ["GMF CE", "Popularity"] and {row["metric"] for row in first.values()} == {"recall@10"}
    expected = ttest_rel(values("Popularity"), values("GMF CE")).pvalue
    assert float(first["Popularity"]["p_value"]) == pytest.approx(expected, rel=1e-9)
    assert first["GMF CE"]["p_value"] == "" and first["GMF CE"]["baseline"] == "GMF CE"
    second = [row for row in rows if row["table"] == "no test"]
    assert {row["metric"] for row in second} == set(spec.metrics)  # the spec's metrics by default
    assert all(row["p_value"] == "" and row["label"] == "GMF CE" for row in second)
    markdown = open(os.path.join(out, "report.md")).read()
    assert "#### planted: against GMF" in markdown and "| GMF CE (baseline) | 3/3 |" in markdown
    assert "#### planted: no test" in markdown


def test_table_and_dataset_errors_name_the_key(tmp_path):
    path = write_spec(str(tmp_path), "data", tables=[{"rows": ["GMF XX"]}])
    with pytest.raises(SpecError, match=r"table 1 names rows \['GMF XX'\]"):
        load_spec(path)
    path = write_spec(str(tmp_path), "data", tables=[{"rows": ["GMF CE"], "colour": "red"}])
    with pytest.raises(SpecError, match="table 1 has unknown key"):
        load_spec(path)
    path = write_spec(str(tmp_path), "data", tables=[{"rows": ["GMF CE"], "baseline": "Popularity"}])
    with pytest.raises(SpecError, match="baseline 'Popularity', which is not one of its rows"):
        load_spec(path)
    path = write_spec(str(tmp_path), "data", datasets=["ml-100k", "ml-100k"])
    with pytest.raises(SpecError, match="repeat a name; give repeated entries distinct 'label'"):
        load_spec(path)


def test_a_dataset_label_tells_two_entries_of_one_dataset_apart(tmp_path):
    path = write_spec(str(tmp_path), "data", bad_variant=False, seeds=[1], datasets=[
        "ml-100k", {"name": "ml-100k", "label": "ml-100k noisy", "config": {"train_noise_ratio": 0.2}}])
    spec = load_spec(path)
    noisy = [run for run in spec.runs if run.dataset == "ml-100k noisy"]
    assert len(noisy) == 2 and all(run.data_name == "ml-100k" for run in noisy)
    assert all(run.config_dict["train_noise_ratio"] == 0.2 for run in noisy)
    assert len({run.run_id for run in spec.runs}) == len(spec.runs) == 4


def test_the_report_goes_into_a_docs_file_only_when_asked(grid, tmp_path):
    spec_path, out, _ = grid
    docs = tmp_path / "benchmarks.md"
    docs.write_text("# Benchmarks\n\nkept text\n\n<!-- group:tiny:start -->\nOLD-REPORT\n<!-- group:tiny:end -->\n\nafter\n")
    before = docs.read_text()
    main([spec_path, "--out", out, "--report"])
    assert docs.read_text() == before
    main([spec_path, "--out", out, "--report", "--docs", str(docs)])
    text = docs.read_text()
    report = open(os.path.join(out, "report.md")).read()
    assert text.startswith("# Benchmarks\n\nkept text\n\n<!-- group:tiny:start -->\n") and text.endswith("after\n")
    assert "OLD-REPORT" not in text and report.rstrip() in text and text.count("group:tiny:start") == 1


def test_a_benchmark_writes_its_section_to_the_output_folder_and_docs_only_when_asked(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import argparse

    from benchmarks import common

    docs = tmp_path / "docs.md"
    docs.write_text("# Benchmarks\n")
    for update in (False, True):
        monkeypatch.setattr(sys, "argv", ["benchmarks/speed_adt.py", "--out", str(tmp_path / "out")]
                            + (["--update-docs"] if update else []))
        common.parse_benchmark_args(argparse.ArgumentParser())
        written = common.write_section("speed-x", "### Speed\n\n| a |\n", docs=str(docs))
        assert (tmp_path / "out" / "speed-x.md").read_text() == "### Speed\n\n| a |\n"
        assert ("<!-- speed-x:start -->" in docs.read_text()) == update
        assert len(written) == 1 + update
    monkeypatch.setattr(common, "_OUTPUT", {"out": os.path.join("saved", "benchmarks"), "update_docs": False})


def test_an_empty_variant_label_is_the_models_own_row(tmp_path):
    path = write_spec(str(tmp_path), "data", bad_variant=False, seeds=[1], ce_config={"loss_type": "CE"},
                      models=[{"model": "GMF", "variants": [{"label": ""}, {"label": "TCE", "config": {"loss_type": "TCE"}}]}],
                      baseline="GMF")
    spec = load_spec(path)
    assert spec.labels == ["GMF", "GMF TCE"] and spec.runs[0].variant == ""


def test_paired_p_value_against_hand_computation_and_degenerate_pairs():
    from recbole_denoise.group.report import paired_p_value

    # differences 0.1, 0.2, 0.3: mean 0.2, sample std 0.1, t = 0.2 / (0.1 / sqrt 3) = 3.4641,
    # two-sided p with 2 degrees of freedom = 1 - t / sqrt(t^2 + 2) = 0.07418
    rows, baseline = {1: 0.6, 2: 0.7, 3: 0.8}, {1: 0.5, 2: 0.5, 3: 0.5}
    assert paired_p_value(rows, baseline) == pytest.approx(0.0741799, rel=1e-5)
    # the same difference at every seed (deterministic rankers, fixed split): no test
    assert paired_p_value({1: 0.6, 2: 0.6, 3: 0.6}, baseline) is None
    assert paired_p_value(baseline, baseline) is None
    assert paired_p_value({1: 0.6}, baseline) is None  # one pair


def test_descriptive_columns_get_no_test_and_no_bold(grid, tmp_path):
    from recbole_denoise.group.report import summarize, to_markdown

    spec_path, out, _ = grid
    raw = yaml.safe_load(open(spec_path))
    raw["descriptive"] = ["ndcg@10"]
    edited = tmp_path / "tiny.yaml"
    edited.write_text(yaml.safe_dump(raw))
    spec = load_spec(str(edited))
    summary = summarize(spec, out)
    rows = {row["label"]: row for row in summary["planted"]["tables"][0]["rows"]}
    ndcg, recall = rows["GMF CE"]["metrics"]["ndcg@10"], rows["GMF CE"]["metrics"]["recall@10"]
    assert ndcg["p"] is None and not any(row["metrics"]["ndcg@10"].get("best") for row in rows.values())
    assert recall["p"] is not None and any(row["metrics"]["recall@10"].get("best") for row in rows.values())
    markdown = to_markdown(spec, summary)
    assert f"| {ndcg['mean']:.4g} ± {ndcg['std']:.3g} |" in markdown
    assert "(ndcg@10 describe the runs: no test, no bold)" in markdown
