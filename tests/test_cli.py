"""Entry points: the command line (output, log file, interrupts); the search is in test_hyper.py."""

import os
import shlex
import signal
import subprocess
import sys
import time

import pytest

from recbole_denoise.utils import load_checkpoint

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


def test_cli_reports_an_unknown_model_with_the_names_that_exist(tmp_path):
    done = _run_cli(tmp_path, "--model=gmf", "--dataset=ml-100k")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and "lightgbm'" not in done.stderr
    assert "[gmf] is neither a recbole_denoise model nor a RecBole model; did you mean GMF" in done.stderr
    listed = done.stderr.split("recbole_denoise models: ", 1)[1].splitlines()[0].split(", ")
    assert {"CDAE", "ClickDIN", "DPSkipNet", "DUMN", "FRAME", "GMF"} <= set(listed) and listed == sorted(listed)
    assert "RecBole general recommenders: " in done.stderr and "LightGCN" in done.stderr


def test_help_lists_models_datasets_and_where_the_keys_are_documented(tmp_path):
    done = subprocess.run([sys.executable, os.path.join(ROOT, "run_recbole_denoise.py"), "--help"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    for text in ("GMF", "FRAME", "DPSkipNet", "GRCN", "Popularity", "RecBole's own models",
                 "microvideo-sim", "ml-100k-mm", "properties/overall.yaml", "properties/model/<Model>.yaml",
                 "README.md"):
        assert text in done.stdout, text


@pytest.mark.parametrize("arg, message", [
    ("--epochs=-1", "epochs must be an integer >= 1, got -1 (from the command line)"),
    ("--loss_type=XYZ", "loss_type must be one of 'CE', 'TCE', 'RCE', got 'XYZ' (from the command line)"),
])
def test_cli_refuses_a_setting_it_cannot_honour_before_training(tmp_path, arg, message):
    done = _run_cli(tmp_path, "--model=GMF", "--dataset=ml-100k", arg)
    assert done.returncode == 2, (done.stdout + done.stderr)[-3000:]
    assert message in done.stderr and "Traceback" not in done.stderr
    assert not list(tmp_path.glob("*.pth"))  # nothing trained, nothing saved


def test_cli_ce_run_logs_no_drop_rate_warns_a_misspelt_key_and_names_its_device(tmp_path):
    done = _run_cli(tmp_path, "--model=GMF", "--dataset=ml-100k", "--loss_type=CE", "--epochs=1",
                    "--drop_rat=0.1")
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-3000:]
    assert "WARNING setting drop_rat = 0.1 is not read by recbole_denoise or RecBole" in log
    assert "did you mean drop_rate?" in log
    [epoch_line] = [line for line in log.splitlines() if "epoch 0 denoising" in line]
    assert "mean loss clean" in epoch_line and "(CE drops nothing)" in epoch_line
    assert "drop rate" not in epoch_line and "dropped" not in epoch_line
    [final_line] = [line for line in log.splitlines() if "denoising (last epoch)" in line]
    assert "(CE drops nothing)" in final_line and "drop rate" not in final_line
    assert "(device: cpu)" in log and "use_gpu = False" in log


KNOWN_HARMLESS = ("FutureWarning", "GradScaler", "chained assignment", "will not be used in RecBole")


@pytest.fixture(scope="module")
def quiet_run(tmp_path_factory):
    """One short GMF run with ``state: ERROR``, in its own folder (``log/`` lands there)."""
    folder = tmp_path_factory.mktemp("quiet")
    done = _run_cli(folder, "--model=GMF", "--dataset=ml-100k", "--loss_type=TCE", "--epochs=1", "--state=ERROR")
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    return folder, done


def test_a_short_run_prints_none_of_recboles_known_harmless_warnings(quiet_run):
    _, done = quiet_run
    printed = done.stdout + done.stderr
    assert [text for text in KNOWN_HARMLESS if text in printed] == [], printed[-3000:]


def test_a_run_at_state_error_still_logs_its_result_to_the_log_file(quiet_run):
    folder, done = quiet_run
    assert "test result" not in done.stderr  # the console honours state
    [log_file] = (folder / "log" / "GMF").glob("*.log")
    text = log_file.read_text()
    assert "best valid" in text and "test result" in text and "recall@20" in text


def _wait_for(pattern, folder, process, timeout=240):
    deadline = time.time() + timeout
    while time.time() < deadline and process.poll() is None:
        found = sorted(folder.glob(pattern))
        if found:
            return found[0]
        time.sleep(0.2)
    process.kill()
    raise AssertionError(f"no {pattern} in {folder} after {timeout} s: {process.communicate()}")


def test_sigterm_stops_a_run_promptly_and_its_resume_command_continues_it(tmp_path):
    saved = tmp_path / "saved"
    command = [sys.executable, os.path.join(ROOT, "run_recbole_denoise.py"), "--model=GMF", "--dataset=ml-100k",
               "--loss_type=TCE", "--epochs=1000", "--stopping_step=1000", "--state=ERROR",
               "--show_progress=False", "--use_gpu=False", f"--checkpoint_dir={saved}"]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    resume_file = _wait_for("*-resume.pth", saved, process)
    process.send_signal(signal.SIGTERM)
    try:
        _, stderr = process.communicate(timeout=20)  # interpreter exit alone takes 1-4 s on a busy 2-core machine
    except subprocess.TimeoutExpired:
        process.kill()
        raise AssertionError(f"still running 20 s after SIGTERM: {process.communicate()}")

    assert process.returncode == 128 + signal.SIGTERM, stderr[-3000:]
    assert "Traceback" not in stderr
    assert f"stopped by SIGTERM; last resume point: {resume_file}" in stderr
    epoch = load_checkpoint(str(resume_file))["epoch"]
    continue_with = shlex.split(stderr.split("continue with: ", 1)[1].splitlines()[0])
    assert continue_with[-1] == f"--resume_file={resume_file}"

    # two more epochs, logged to the console
    resumed = [arg for arg in continue_with[1:] if not arg.startswith(("--epochs=", "--state="))]
    done = subprocess.run([sys.executable] + resumed + [f"--epochs={epoch + 2}", "--state=INFO"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"Resume training from epoch {epoch + 1}" in done.stderr
    assert f"epoch {epoch + 1} training" in done.stderr and "test result" in done.stderr
