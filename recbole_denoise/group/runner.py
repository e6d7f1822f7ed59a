"""The grid: every run of a spec that has no result yet, as Ray tasks (or one after
another in this process, ``backend="local"``), each record saved by this driver as soon as
its run finishes."""

import contextlib
import os
import signal
import threading
import time
import warnings

import recbole_denoise
from recbole_denoise.group.execute import execute_run
from recbole_denoise.group.store import RunStore
from recbole_denoise.runtime import signal_handlers_kept


class ResourceError(ValueError):
    """The runs ask for resources that the Ray they run on does not have."""


def run_group(spec, out, backend="ray", cpus=None, threads=1, address=None, gpus_per_run=0, log=print):
    """Run the runs of ``spec`` that ``out`` holds no result for; return the records of
    the runs executed now, in the order they finished.

    ``backend``: ``"ray"`` (default) submits one task per run, each asking for
    ``threads`` CPUs and ``gpus_per_run`` GPUs, to a local Ray started with ``cpus`` CPUs
    (default: all) or to the cluster at ``address``; ``"local"`` runs them one after
    another here (tests, debugging).
    """
    store = RunStore(out)
    pending = [run for run in spec.runs if not store.finished(run)]
    log(f"{spec.name}: {len(spec.runs)} runs, {len(spec.runs) - len(pending)} finished before, "
        f"{len(pending)} to run ({backend}); results in {store.runs_dir}")
    if not pending:
        return []
    if backend == "local":
        return _run_local(spec, pending, store, threads, log)
    if backend == "ray":
        return _run_on_ray(spec, pending, store, cpus, threads, address, gpus_per_run, log)
    raise ValueError(f"backend must be 'ray' or 'local', got {backend!r}")


def _run_local(spec, pending, store, threads, log):
    records = []
    for run in pending:
        record = execute_run(run, store.checkpoint_dir(run), threads=threads)
        _save(store, record, records, log, len(pending), spec.metrics)
    return records


# ray 2.6 imports pkg_resources, which warns that it is deprecated (in every worker)
RAY_WARNINGS = "ignore:pkg_resources is deprecated:UserWarning"


def import_ray():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
        import ray
    return ray


def _run_on_ray(spec, pending, store, cpus, threads, address, gpus_per_run, log):
    with _signal_handlers_kept():
        ray = import_ray()
        started_here = not ray.is_initialized()
        if started_here and address:
            ray.init(address=address)  # the cluster's nodes have the package installed
        elif started_here:
            _start_local_ray(ray, cpus)
    gpus = ray.cluster_resources().get("GPU", 0)
    if not address and gpus < gpus_per_run:
        if started_here:
            ray.shutdown()
        raise ResourceError(f"--gpus-per-run {gpus_per_run:g}, but this machine's Ray has {gpus:g} GPUs: "
                            f"the tasks would wait for ever")
    task = ray.remote(num_cpus=threads, num_gpus=gpus_per_run, max_retries=0)(_ray_task)
    cwd = os.getcwd()
    in_flight = {task.remote(run, store.checkpoint_dir(run), threads, cwd): run for run in pending}
    records = []
    received = []
    try:
        with _signals_recorded(received):
            _collect(ray, in_flight, store, records, log, len(pending), spec.metrics)
    except KeyboardInterrupt as interrupt:
        for ref in in_flight:
            ray.cancel(ref, force=True)
        log(f"interrupted: {len(records)} runs saved, {len(in_flight)} unfinished ones cancelled; "
            f"run the same command again to continue")
        if interrupt.args != ("SIGTERM",) and signal.SIGTERM in received:
            # ray.wait raises a KeyboardInterrupt of its own; keep the signal's name (exit status)
            raise KeyboardInterrupt("SIGTERM") from interrupt
        raise
    finally:
        if started_here:
            ray.shutdown()
    return records


def _collect(ray, in_flight, store, records, log, total, metrics):
    """Save each task's record as it finishes, until none is left in ``in_flight``."""
    while in_flight:
        [done], _ = ray.wait(list(in_flight), num_returns=1)
        run = in_flight.pop(done)
        try:
            record = ray.get(done)
        except ray.exceptions.RayError as error:  # the worker died (killed, out of memory)
            record = _lost_run(run, store, error)
        _save(store, record, records, log, total, metrics)


# kept under its old name: the group runner's tests import it from here
_signal_handlers_kept = signal_handlers_kept


@contextlib.contextmanager
def _signals_recorded(received):
    """Append SIGINT / SIGTERM to ``received`` when they arrive, then call the handler in
    place (restored on exit)."""
    with _signal_handlers_kept():
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                handler = signal.getsignal(signum)
                if callable(handler):
                    def recording(number, frame, handler=handler):
                        received.append(number)
                        return handler(number, frame)

                    signal.signal(signum, recording)
        yield


def _start_local_ray(ray, cpus):
    """A local Ray with ``cpus`` CPUs whose workers import this driver's
    ``recbole_denoise`` (wherever they start) and do not warn about ``pkg_resources``."""
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(recbole_denoise.__file__)))
    python_path = os.pathsep.join(filter(None, [package_parent, os.environ.get("PYTHONPATH")]))
    warnings_before = os.environ.get("PYTHONWARNINGS")
    os.environ["PYTHONWARNINGS"] = ",".join(filter(None, [warnings_before, RAY_WARNINGS]))
    try:  # the Ray processes started here inherit the environment
        ray.init(num_cpus=cpus, include_dashboard=False, runtime_env={"env_vars": {"PYTHONPATH": python_path}})
    finally:
        if warnings_before is None:
            del os.environ["PYTHONWARNINGS"]
        else:
            os.environ["PYTHONWARNINGS"] = warnings_before


def _ray_task(run, checkpoint_dir, threads, cwd):
    import ray

    return execute_run(run, checkpoint_dir, threads=threads, cwd=cwd, gpu_ids=ray.get_gpu_ids())


def _lost_run(run, store, error):
    return {"id": run.run_id, "label": run.label, "model": run.model, "variant": run.variant,
            "dataset": run.dataset, "seed": run.seed, "inputs": run.inputs(),
            "checkpoint_dir": store.checkpoint_dir(run), "status": "failed",
            "error": f"{type(error).__name__}: {error}", "traceback": None, "finished_at": time.time()}


def _save(store, record, records, log, total, metrics):
    record.setdefault("finished_at", time.time())
    store.save(record)
    records.append(record)
    where = f"{record['label']} on {record['dataset']}, seed {record['seed']}"
    if record["status"] == "ok":
        log(f"[{len(records)}/{total}] {where}: {_headline(record, metrics)} ({record['seconds']:.0f} s)")
    else:
        log(f"[{len(records)}/{total}] {where}: FAILED {record['error'].splitlines()[0]}")


def _headline(record, metrics):
    from recbole_denoise.group.report import metric_value

    score = record.get("best_valid_score")
    metrics = metrics or [key.lower() for key in list(record.get("test_result") or {})[:3]]
    values = [(metric, metric_value(record, metric)) for metric in metrics]
    shown = ", ".join(f"{metric} {value:.4f}" for metric, value in values if value is not None)
    return f"valid {score:.4f}; {shown}" if isinstance(score, (int, float)) else shown
