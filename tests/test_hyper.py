"""Hyper-parameter search (recbole_denoise.hyper): options, hyperopt and Ray Tune with ASHA."""

import math
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import yaml

from recbole_denoise.hyper import hyperopt_search, ray_search, ray_space, read_params_file
from tests.conftest import write_planted_dataset
from tests.support import PLANTED, QUIET

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _fixed_config(folder, **extra):
    """A fixed config on the planted dataset under ``folder/data``, named by a relative
    ``data_path`` (the search runs with ``folder`` as working directory)."""
    write_planted_dataset(str(folder / "data"))
    settings = dict(QUIET, **PLANTED, model="GMF", dataset="planted", data_path="data",
                    checkpoint_dir="saved", epochs=2, seed=2020, reproducibility=True)
    settings.update(extra)
    path = folder / "fixed.yaml"
    path.write_text(yaml.safe_dump(settings))
    return "fixed.yaml"


def test_params_file_errors_name_the_line(tmp_path):
    params = tmp_path / "space.hyper"
    params.write_text("learning_rate choice [0.01, 0.001]\ndrop_rate between 0.1 0.2\n")
    with pytest.raises(ValueError, match="space.hyper, line 2"):
        read_params_file(str(params))


@pytest.mark.parametrize("arg, message", [
    ("--epochs=1", "unrecognized arguments: --epochs=1"),
    ("--algo=bayes", "--algo bayes is not one of grid, random, hyperopt for --tool=ray"),
])
def test_an_option_the_search_does_not_know_is_an_error(tmp_path, arg, message):
    done = subprocess.run([sys.executable, "-m", "recbole_denoise.hyper", "--config_files=fixed.yaml",
                           "--params_file=space.hyper", "--tool=Ray", arg],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=ROOT))
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr


def test_hyperopt_with_a_relative_data_path_prints_and_exports_the_best(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "space.hyper").write_text("learning_rate choice [0.01, 0.001]\n")
    tuner = hyperopt_search([_fixed_config(tmp_path, epochs=1)], "space.hyper", max_evals=2,
                            best_config="best.yaml")
    assert len(tuner.params2result) == 2
    out = capsys.readouterr().out
    assert "best parameters: {'learning_rate': " in out and "test result:" in out
    best = yaml.safe_load((tmp_path / "best.yaml").read_text())
    assert best["model"] == "GMF" and best["dataset"] == "planted"
    assert best["learning_rate"] == tuner.best_params["learning_rate"]
    assert best["data_path"] == os.path.join(str(tmp_path), "data")  # absolute, usable from anywhere


def test_ray_asha_stops_trials_early_reports_only_validations_and_exports_a_reproducible_best(
        tmp_path, monkeypatch, capsys):
    ray = pytest.importorskip("ray")
    from recbole_denoise.hyper import init_ray, report

    monkeypatch.chdir(tmp_path)  # relative data_path: trials run in their own folders
    # good learning rates first: ASHA compares later trials with those that reached a rung
    (tmp_path / "space.hyper").write_text("learning_rate choice [0.05, 0.02, 0.000001, 0.0000001]\n")
    fixed = _fixed_config(tmp_path, epochs=3)
    init_ray(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        search = ray_search([fixed], "space.hyper", scheduler="asha", grace_period=1, reduction_factor=2,
                            local_dir=str(tmp_path / "ray"), name="asha")
    finally:
        ray.shutdown()
    assert search.metric == "recall@10" and search.mode == "max"
    rows = search.trials()
    assert len(rows) == 4
    for result in search.grid:
        history = result.metrics_dataframe
        # one report per validation, and nothing after training
        assert result.metrics["training_iteration"] == len(history) <= 3
        assert "recall@10" in history and "test_result" not in result.metrics
        assert not any(key.startswith("ndcg") for key in result.metrics)
    finished = [row for row in rows if row[-1] == "finished"]
    stopped = [row for row in rows if row[-1] == "stopped early by the scheduler"]
    assert finished and all(row[2] == row[3] == 3 for row in finished)
    assert stopped and all(row[2] == row[3] < 3 for row in stopped)

    report(search, str(tmp_path / "best.yaml"))
    out = capsys.readouterr().out
    assert "stopped early by the scheduler" in out and "finished" in out
    assert "best parameters: {'learning_rate': " in out and "test result:" in out
    assert "recall@10" in search.test_result

    # the exported yaml, run as it is from another folder, gives the best trial's validation score
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = subprocess.run([sys.executable, os.path.join(ROOT, "run_recbole_denoise.py"),
                           f"--config_files={tmp_path / 'best.yaml'}", "--state=INFO"],
                          cwd=elsewhere, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-3000:]
    [best_valid] = re.findall(r"best valid\s*: .*'recall@10', ([0-9.]+)", log)
    assert float(best_valid) == search.best_valid_score
    assert "GMF" in log and "planted" in log


def test_ray_space_per_searcher():
    from ray.tune.search.sample import Categorical, Float

    space = {"learning_rate": ("choice", [0.1, 0.01]), "beta": ("loguniform", [-3, 0])}
    assert ray_space(space, "grid")["learning_rate"] == {"grid_search": [0.1, 0.01]}
    assert isinstance(ray_space(space, "random")["learning_rate"], Categorical)
    beta = ray_space(space, "hyperopt")["beta"]
    assert isinstance(beta, Float) and beta.lower == pytest.approx(math.exp(-3)) and beta.upper == 1


def test_ray_hyperopt_searcher_then_resume_keeps_the_finished_trials(tmp_path, monkeypatch):
    ray = pytest.importorskip("ray")
    from recbole_denoise.hyper import init_ray

    monkeypatch.chdir(tmp_path)
    (tmp_path / "space.hyper").write_text("learning_rate loguniform -7, -3\n")
    fixed = _fixed_config(tmp_path, epochs=1)
    init_ray(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        search = ray_search([fixed], "space.hyper", algo="hyperopt", num_samples=2, scheduler="fifo",
                            local_dir=str(tmp_path / "ray"), name="bayes", seed=0)
        rows = search.trials()
        assert len(rows) == 2 and all(row[-1] == "finished" for row in rows)
        assert len({row[1]["learning_rate"] for row in rows}) == 2
        best_score = max(row[5] for row in rows)
        assert search.best_valid_score == best_score
        written = {row[0]: os.path.getmtime(os.path.join(search.grid.experiment_path, row[0], "trial_result.json"))
                   for row in rows}

        resumed = ray_search([fixed], "space.hyper", resume=search.grid.experiment_path)
    finally:
        ray.shutdown()
    again = {row[0]: os.path.getmtime(os.path.join(resumed.grid.experiment_path, row[0], "trial_result.json"))
             for row in resumed.trials()}
    assert again == written  # the same trials, none trained again
    assert resumed.best_valid_score == search.best_valid_score


def test_an_interrupted_ray_search_resumes_to_every_trial_finished(tmp_path):
    pytest.importorskip("ray")
    _fixed_config(tmp_path, epochs=40, stopping_step=100)
    (tmp_path / "space.hyper").write_text("learning_rate choice [0.01, 0.001, 0.0001]\n")
    command = [sys.executable, "-m", "recbole_denoise.hyper", "--config_files=fixed.yaml",
               "--params_file=space.hyper", "--tool=Ray", "--scheduler=fifo", "--cpus-per-trial=2",
               "--local_dir=ray", "--name=stopped", "--best_config=best.yaml"]
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1")
    search = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    progress = tmp_path / "ray" / "stopped"
    deadline = time.time() + 300
    while time.time() < deadline and not any(p.stat().st_size > 0 for p in progress.glob("*/progress.csv")):
        time.sleep(0.5)
    # SIGTERM (a scheduler, kill) stops the search as Ctrl-C does: Tune saves the experiment
    search.send_signal(signal.SIGTERM)  # one trial at a time (2 CPUs each): the others have not started
    out, _ = search.communicate(timeout=300)
    assert search.returncode == 143, out[-3000:]
    assert "interrupted: no best configuration chosen" in out and "--resume=" in out
    assert not (tmp_path / "best.yaml").exists()
    [resume] = [line for line in out.splitlines() if "--resume=" in line and line.startswith(sys.executable)]

    done = subprocess.run(resume.split(" "), cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    table = [line for line in done.stdout.splitlines() if line.startswith("trial_")]
    assert len(table) == 3 and all(line.endswith("finished") for line in table)
    assert all(line.split()[2:4] == ["40", "40"] for line in table)  # validations, epochs: whole runs
    assert (tmp_path / "best.yaml").exists()


def test_a_smaller_max_t_shortens_every_trial_and_the_exported_epochs(tmp_path, monkeypatch):
    ray = pytest.importorskip("ray")
    from recbole_denoise.hyper import init_ray, write_best_config

    monkeypatch.chdir(tmp_path)
    (tmp_path / "space.hyper").write_text("learning_rate choice [0.01, 0.001]\n")
    fixed = _fixed_config(tmp_path, epochs=3)
    init_ray(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        # FIFO: under ASHA a trial can lose the rung at epoch 1 (which one depends on which
        # reports first), and this test is about max_t shortening trials, not about ASHA
        search = ray_search([fixed], "space.hyper", max_t=1, scheduler="fifo", local_dir=str(tmp_path / "ray"),
                            name="short")
    finally:
        ray.shutdown()
    assert [row[2:4] for row in search.trials()] == [(1, 1), (1, 1)]
    assert all(row[-1] == "finished" for row in search.trials())
    assert write_best_config(str(tmp_path / "best.yaml"), search.fixed, search.best_params)["epochs"] == 1
