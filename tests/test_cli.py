"""Entry points: the command line, HyperTuning and Ray Tune."""

import os
import subprocess
import sys

import pytest

from recbole_denoise.hyper import hyperopt_search, read_params_file, ray_search

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run_cli(tmp_path, *args):
    command = [sys.executable, os.path.join(ROOT, "run_recbole_denoise.py"), *args,
               "--show_progress=False", "--use_gpu=False", f"--checkpoint_dir={tmp_path}"]
    return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)


def test_cli_trains_gmf_with_tce_and_reports_clean_test_and_drops(tmp_path):
    done = _run_cli(tmp_path, "--model=GMF", "--dataset=ml-100k", "--loss_type=TCE", "--epochs=2",
                    "--num_gradual=100")
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-3000:]
    assert "clean-test protocol: test keeps" in log
    assert "test result" in log and "recall@20" in log
    assert "drop precision" in log and "(random" in log


def test_cli_runs_recbole_models_through_the_same_entry(tmp_path):
    done = _run_cli(tmp_path, "--model=BPR", "--dataset=ml-100k", "--epochs=1")
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert "test result" in done.stdout + done.stderr


def test_cli_reports_an_unknown_model_clearly(tmp_path):
    done = _run_cli(tmp_path, "--model=NoSuchModel", "--dataset=ml-100k")
    assert done.returncode != 0
    assert "[NoSuchModel] is neither a recbole_denoise model nor a RecBole model" in done.stderr


def _fixed_config(tmp_path, **extra):
    path = tmp_path / "fixed.yaml"
    lines = {"model": "GMF", "dataset": "ml-100k", "epochs": 1, "state": "ERROR",
             "show_progress": False, "use_gpu": False, "checkpoint_dir": str(tmp_path / "saved"),
             "loss_type": "TCE", **extra}
    path.write_text("".join(f"{key}: {value}\n" for key, value in lines.items()))
    return str(path)


def test_params_file_errors_name_the_line(tmp_path):
    params = tmp_path / "space.hyper"
    params.write_text("learning_rate choice [0.01, 0.001]\ndrop_rate between 0.1 0.2\n")
    with pytest.raises(ValueError, match="space.hyper, line 2"):
        read_params_file(str(params))


def test_hypertuning_accepts_the_objective_function(tmp_path):
    params = tmp_path / "space.hyper"
    params.write_text("drop_rate choice [0.1, 0.2]\n")
    tuner = hyperopt_search([_fixed_config(tmp_path)], str(params), max_evals=2)
    assert len(tuner.params2result) == 2
    best = tuner.params2result[tuner.params2str(tuner.best_params)]
    assert best["model"] == "GMF" and "recall@20" in best["test_result"]


def test_ray_tune_runs_trials_that_report_every_epoch(tmp_path):
    ray = pytest.importorskip("ray")
    params = tmp_path / "space.hyper"
    params.write_text("learning_rate choice [0.01, 0.001]\n")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        analysis = ray_search([_fixed_config(tmp_path, epochs=2)], str(params),
                              local_dir=str(tmp_path / "ray"), max_epochs=3, early_stopping=False)
    finally:
        ray.shutdown()
    assert len(analysis.trials) == 2
    for trial in analysis.trials:
        # two per-epoch reports, then the final one with the test metrics (without
        # ASHA, which may stop a trial after its first report)
        assert trial.last_result["training_iteration"] == 3
        assert "recall@20" in trial.last_result and "valid_score" in trial.last_result
