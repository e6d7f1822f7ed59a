"""One run of a group: train and test through ``run_recbole_denoise`` and return what the
run's json file holds. The same function runs as a Ray task and, with ``--backend local``,
in the driver's own process."""

import glob
import math
import os
import platform
import resource
import sys
import time
import traceback


def execute_run(run, checkpoint_dir, threads=1, cwd=None, gpu_ids=None):
    """Train and test ``run`` (a :class:`~recbole_denoise.group.spec.Run`) with its own
    ``checkpoint_dir``; never raises for a failed run (the record says ``status:
    failed`` with the error and its traceback). ``KeyboardInterrupt`` passes through.

    ``threads``: ``torch.set_num_threads``; ``cwd``: the driver's working directory
    (datasets and ``log/`` are relative to it), entered when it exists on this machine;
    ``gpu_ids``: the GPUs Ray gave the task (RecBole sets ``CUDA_VISIBLE_DEVICES`` from
    ``gpu_id``, so it must name them).
    """
    import torch

    from recbole_denoise.runtime import quiet_known_warnings

    quiet_known_warnings()
    if cwd and os.path.isdir(cwd):
        os.chdir(cwd)
    torch.set_num_threads(threads)
    config = dict(run.config_dict, checkpoint_dir=checkpoint_dir)
    if gpu_ids:
        config.setdefault("use_gpu", True)
        config["gpu_id"] = ",".join(str(gpu) for gpu in gpu_ids)
    record = {
        "id": run.run_id, "label": run.label, "model": run.model, "variant": run.variant,
        "dataset": run.dataset, "seed": run.seed, "inputs": run.inputs(),
        "checkpoint_dir": checkpoint_dir, "threads": threads, "host": platform.node(), "pid": os.getpid(),
    }
    reset_peak_memory()
    argv = sys.argv[:]
    sys.argv[1:] = []  # RecBole's Config reads --key=value from sys.argv (the driver's, a Ray worker's)
    started = time.time()
    try:
        from recbole_denoise.quick_start import run_recbole_denoise

        result = run_recbole_denoise(model=run.model, dataset=run.data_name,
                                     config_file_list=list(run.config_files) or None, config_dict=config)
        record.update(status="ok", **json_safe(dict(result)))
        record.update(saved_training(checkpoint_dir))
    except Exception as error:  # a failed run is a result of the grid, not its end
        record.update(status="failed", error=f"{type(error).__name__}: {error}", traceback=traceback.format_exc())
    finally:
        sys.argv[:] = argv
    record["seconds"] = time.time() - started
    record["peak_rss_mb"], record["peak_rss_scope"] = peak_memory_mb()
    if "config" not in record:
        record["config"] = final_config(run, config)
    return record


def saved_training(checkpoint_dir):
    """The final config and per-epoch record (training loss, validations, denoising diagnostics) from
    the last resume point the run wrote in its own ``checkpoint_dir``; ``{}`` if none."""
    import torch

    files = sorted(glob.glob(os.path.join(checkpoint_dir, "*-resume.pth")), key=os.path.getmtime)
    if not files:
        return {}
    state = torch.load(files[-1], weights_only=True, map_location="cpu")
    epochs = {"train_loss": state.get("train_loss")}
    if state.get("valid_history") is not None:  # [epoch, valid score, valid result] per validation
        epochs["valid"] = state["valid_history"]
    if state.get("denoising_history"):
        epochs["denoising"] = state["denoising_history"]
    return json_safe({"config": state["config"], "epochs": epochs})


def final_config(run, config):
    """The run's final config as a plain dict, or ``None`` if it cannot be built (the
    error is in the record already)."""
    try:
        from recbole_denoise.config import Config
        from recbole_denoise.trainer.checkpoint import plain_config

        return json_safe(plain_config(Config(model=run.model, dataset=run.data_name,
                                             config_file_list=list(run.config_files) or None,
                                             config_dict=config)))
    except Exception:
        return None


def reset_peak_memory():
    """Start a new peak-RSS window (Linux: ``/proc/self/clear_refs``), so that a Ray worker
    that runs several tasks reports each run's own peak."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        pass


def peak_memory_mb():
    """``(MB, scope)``: the peak resident memory since :func:`reset_peak_memory`
    (``"run"``), else of the whole process (``"process"``)."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024, "run"
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "process"


def json_safe(value):
    """``value`` with tensors, numpy values and other objects as json values (NaN and
    infinities as ``None``)."""
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [json_safe(item) for item in value]
    if hasattr(value, "tolist"):  # tensors, numpy arrays and scalars
        return json_safe(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)
