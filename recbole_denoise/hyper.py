"""Hyper-parameter search with this package's models, like RecBole's run_hyper.py.

    python -m recbole_denoise.hyper --config_files=fixed.yaml --params_file=space.hyper
    python -m recbole_denoise.hyper --config_files=fixed.yaml --params_file=space.hyper --tool=Ray

``fixed.yaml`` names ``model`` and ``dataset`` and every fixed setting (``epochs``,
``valid_metric``, ...): the command line takes the search's own options only, and an
option it does not know is an error. The params file uses RecBole's format, one
parameter a line::

    learning_rate choice [0.01, 0.005, 0.001]
    drop_rate uniform 0.05, 0.3
    beta loguniform -3, 0          # bounds in log space, as hyperopt's loguniform

Both tools select on the validation metric only (``valid_metric`` of the fixed
config), print the chosen parameters with the chosen trial's test result, and write
``--best_config`` (default ``best_config.yaml``): the fixed settings plus the best
parameters, which ``run_recbole_denoise.py --config_files=best_config.yaml`` runs as it is.

With ``--tool=Ray`` each trial reports the validation metric under its own name
(``recall@10``) after every validation and nothing else, so ``training_iteration`` counts
validations and the ASHA scheduler stops weak trials early; each trial writes its
validation and test result to ``trial_result.json`` in its trial folder when its training
ends, and a summary table says which trials ASHA stopped and after how many
validations. Relative paths (``data_path``, ``checkpoint_dir``, the config files) are
resolved against the directory the search starts in, since trials run in their own folders.
"""

import argparse
import ast
import json
import math
import os
import sys
import time

# what a Ray trial writes into its trial folder when its training ends
TRIAL_RESULT = "trial_result.json"
# settings that name files or folders, resolved before trials leave the starting directory
PATH_KEYS = ("data_path", "checkpoint_dir")
RAY_ALGOS = ("grid", "random", "hyperopt")
HYPEROPT_ALGOS = ("exhaustive", "random", "bayes")


# ---------------------------------------------------------------- search space and settings

def read_params_file(path):
    """``{name: (kind, values)}`` from a RecBole params file; errors name the line."""
    space = {}
    with open(path, encoding="utf-8") as handle:
        for number, raw in enumerate(handle, start=1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.split(" ", 2)
            if len(parts) != 3 or parts[1] not in ("choice", "uniform", "loguniform"):
                raise ValueError(
                    f"{path}, line {number}: expected '<name> choice [..]' or "
                    f"'<name> uniform|loguniform low, high', got {raw.strip()!r}"
                )
            name, kind, values = parts
            try:
                parsed = ast.literal_eval(values if kind == "choice" else f"[{values}]")
            except (ValueError, SyntaxError) as error:
                raise ValueError(f"{path}, line {number}: cannot parse {values!r}: {error}") from error
            space[name] = (kind, parsed)
    return space


def ray_space(space, algo="grid"):
    """Tune's ``param_space`` for ``space``: with ``grid`` every ``choice`` is a grid axis
    (``num_samples`` repeats the grid); with ``random`` and ``hyperopt`` a sampled choice.
    ``uniform`` and ``loguniform`` are sampled either way (loguniform bounds in log space)."""
    from ray import tune

    def one(kind, values):
        if kind == "choice":
            return tune.grid_search(list(values)) if algo == "grid" else tune.choice(list(values))
        if kind == "uniform":
            return tune.uniform(*values)
        return tune.loguniform(math.exp(values[0]), math.exp(values[1]))

    return {name: one(kind, values) for name, (kind, values) in space.items()}


def fixed_settings(config_file_list, start_dir=None):
    """The settings of ``config_file_list`` (later files over earlier ones, as RecBole
    layers them) with relative ``PATH_KEYS`` made absolute against ``start_dir`` (default:
    the current directory). ``data_path`` is always set, so a trial in its own folder
    finds ``<start_dir>/dataset/<name>`` as a run started in ``start_dir`` would."""
    import yaml
    from recbole.config import Config as RecBoleConfig

    start_dir = os.path.abspath(start_dir or os.getcwd())
    loader = RecBoleConfig._build_yaml_loader(None)  # RecBole's number-parsing loader
    settings = {}
    for path in config_file_list:
        with open(path, encoding="utf-8") as handle:
            settings.update(yaml.load(handle.read(), Loader=loader) or {})
    settings.setdefault("data_path", "dataset/")
    for key in PATH_KEYS:
        if isinstance(settings.get(key), str):
            settings[key] = os.path.join(start_dir, os.path.expanduser(settings[key]))
    for key in ("model", "dataset"):
        if not settings.get(key):
            raise ValueError(f"the fixed config ({' '.join(config_file_list)}) must name {key}")
    return settings


def search_target(fixed):
    """``(metric, mode, epochs_in_validations)`` of the fixed settings: the name the
    trials report (``recall@10``), ``max`` or ``min``, and how many validations a full
    training makes. Builds the run's ``Config``, so a bad setting fails here, once."""
    from recbole_denoise.config import Config

    config = Config(config_dict=dict(fixed))
    validations = max(1, config["epochs"] // max(1, config["eval_step"]))
    return config["valid_metric"].lower(), "max" if config["valid_metric_bigger"] else "min", validations


def plain(value):
    """``value`` as a plain Python value for yaml (numpy scalars from the searchers)."""
    return value.item() if hasattr(value, "item") and not isinstance(value, (list, dict)) else value


def write_best_config(path, fixed, params):
    """Write ``fixed`` plus ``params`` as a yaml ``run_recbole_denoise.py --config_files``
    takes as it is; returns the dict written."""
    import yaml

    best = dict(fixed, **{name: plain(value) for name, value in params.items()})
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("# written by recbole_denoise.hyper: fixed settings + best parameters\n")
        yaml.safe_dump(best, handle, sort_keys=False)
    return best


# ---------------------------------------------------------------- hyperopt (RecBole's HyperTuning)

def hyperopt_search(config_file_list, params_file, algo="exhaustive", max_evals=100, output_file=None,
                    best_config=None):
    """RecBole's ``HyperTuning`` (hyperopt) over this package's ``objective_function``,
    with the fixed settings resolved as for Ray; writes ``best_config`` if given."""
    from recbole.trainer import HyperTuning

    from recbole_denoise.quick_start import objective_function

    fixed = fixed_settings(config_file_list)

    def trial(params, _config_file_list):
        return objective_function(dict(fixed, **params))

    tuner = HyperTuning(trial, algo=algo, max_evals=max_evals, params_file=params_file)
    tuner.run()
    if output_file:
        tuner.export_result(output_file=output_file)
    best = tuner.params2result[tuner.params2str(tuner.best_params)]
    print("best parameters:", {name: plain(value) for name, value in tuner.best_params.items()})
    print("best valid:", dict(best["best_valid_result"]))
    print("test result:", dict(best["test_result"]))
    if best_config:
        write_best_config(best_config, fixed, tuner.best_params)
        print(f"best config written to {best_config}: "
              f"python run_recbole_denoise.py --config_files={best_config}")
    return tuner


# ---------------------------------------------------------------- Ray Tune

def _ray_trial(params, fixed):
    """One Tune trial: train with ``fixed`` + ``params`` (``objective_function`` reports
    each validation to Tune), then write the result to ``TRIAL_RESULT`` in the trial
    folder, without reporting it: a report after training would be one more
    ``training_iteration`` that ASHA reads as an epoch."""
    from ray.air import session

    from recbole_denoise.quick_start import objective_function

    sys.argv[1:] = []  # the Ray worker's own options, which RecBole's Config would read as settings
    settings = dict(fixed, **params)
    # RecBole sets CUDA_VISIBLE_DEVICES to gpu_id: keep the GPUs Ray gave this trial (none
    # without --gpus-per-trial), not the fixed config's gpu_id
    settings["gpu_id"] = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    if "checkpoint_dir" in settings:  # a shared folder: one sub-folder per trial
        settings["checkpoint_dir"] = os.path.join(settings["checkpoint_dir"], session.get_trial_name())
    result = objective_function(settings)
    saved = {"best_valid_score": float(result["best_valid_score"]),
             "best_valid_result": {k: float(v) for k, v in result["best_valid_result"].items()},
             "test_result": {k: float(v) for k, v in result["test_result"].items()}}
    path = os.path.join(session.get_trial_dir(), TRIAL_RESULT)
    with open(path + ".tmp", "w", encoding="utf-8") as handle:
        json.dump(saved, handle)
    os.replace(path + ".tmp", path)


def _trial_name(trial):
    return f"trial_{trial.trial_id}"


def read_trial_result(trial_dir):
    """What ``_ray_trial`` saved in ``trial_dir``, or ``None`` if its training did not end
    (stopped by the scheduler, failed, or still running)."""
    path = os.path.join(trial_dir, TRIAL_RESULT)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def init_ray(address=None, **kwargs):
    """``ray.init(address, **kwargs)``; on a local Ray (no ``address``) the workers import
    the ``recbole_denoise`` this process imported (a source tree, not an older installed
    copy). On a cluster, install the package on every node."""
    import ray

    if address is None:
        package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        python_path = os.pathsep.join(filter(None, [package_parent, os.environ.get("PYTHONPATH")]))
        kwargs.setdefault("runtime_env", {"env_vars": {"PYTHONPATH": python_path}})
    return ray.init(address=address, **kwargs)


def ray_search(config_file_list, params_file, algo="grid", num_samples=1, scheduler="asha",
               max_t=None, grace_period=1, reduction_factor=2, cpus_per_trial=1, gpus_per_trial=0,
               local_dir="ray_results", name=None, resume=None, seed=None):
    """Ray Tune search over ``params_file`` with the fixed settings of ``config_file_list``.

    ``algo``: ``grid`` (every choice combination, ``num_samples`` times), ``random``
    (``num_samples`` samples) or ``hyperopt`` (Tune's ``HyperOptSearch``, ``num_samples``
    trials). ``scheduler``: ``asha`` stops weak trials at rungs from ``grace_period`` to
    ``max_t`` validations (default: all the fixed config's epochs), ``fifo`` runs every
    trial to its end. ``resume``: the folder of an interrupted experiment, continued with
    its unfinished trials (same config files and params file).

    Returns ``SearchResult``: the Tune ``ResultGrid``, the metric and mode, the fixed
    settings, the best trial's parameters, validation and test result.
    """
    from ray import air, tune
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    fixed = fixed_settings(config_file_list)
    metric, mode, validations = search_target(fixed)
    if max_t is not None and max_t < validations:
        # trials train max_t validations; the exported config says so
        fixed["epochs"] = max_t * int(fixed.get("eval_step", 1))
        print(f"--max-t={max_t}: each trial trains at most {fixed['epochs']} epochs")
    max_t = max_t or validations
    space = read_params_file(params_file)
    trainable = tune.with_resources(tune.with_parameters(_ray_trial, fixed=fixed),
                                    {"cpu": cpus_per_trial, "gpu": gpus_per_trial})
    if resume:
        tuner = tune.Tuner.restore(os.path.abspath(resume), trainable, resume_unfinished=True,
                                   resume_errored=True)
    else:
        if scheduler == "asha":
            # a trial that reaches max_t ends its own training (and writes its test result):
            # ASHA only stops trials at the rungs below
            chosen = ASHAScheduler(time_attr="training_iteration", max_t=max_t,
                                   grace_period=grace_period, reduction_factor=reduction_factor,
                                   stop_last_trials=False)
        else:
            chosen = FIFOScheduler()
        searcher = None
        if algo == "hyperopt":
            from ray.tune.search.hyperopt import HyperOptSearch

            searcher = HyperOptSearch(random_state_seed=seed)
        name = name or f"{fixed['model']}-{fixed['dataset']}-{time.strftime('%Y%m%d-%H%M%S')}"
        tuner = tune.Tuner(
            trainable,
            param_space=ray_space(space, algo),
            tune_config=tune.TuneConfig(metric=metric, mode=mode, scheduler=chosen, search_alg=searcher,
                                        num_samples=num_samples, trial_name_creator=_trial_name,
                                        trial_dirname_creator=_trial_name),
            run_config=air.RunConfig(name=name, storage_path=os.path.abspath(local_dir), verbose=1),
        )
    grid, interrupted = _fit_noting_interrupts(tuner)
    return SearchResult(grid, metric, mode, fixed, list(space), interrupted)


def _fit_noting_interrupts(tuner):
    """``(tuner.fit(), interrupted)``: ``interrupted`` is ``None``, or ``"SIGINT"`` /
    ``"SIGTERM"`` for the signal that stopped the search. On Ctrl-C Ray Tune saves the
    experiment and returns what it has; its SIGINT handler then puts back the handler it
    found, so finding ours back after ``fit`` means the search was interrupted. SIGTERM
    takes the same path: it is turned into a SIGINT for Tune (``import ray`` would
    otherwise exit at once, without saving the experiment)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return tuner.fit(), None
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    received = []

    def ours(signum, frame):
        raise KeyboardInterrupt("SIGINT")

    def terminate(signum, frame):
        received.append("SIGTERM")
        os.kill(os.getpid(), signal.SIGINT)  # Tune's handler stops the trials and saves the experiment

    signal.signal(signal.SIGINT, ours)
    signal.signal(signal.SIGTERM, terminate)
    try:
        grid = tuner.fit()
        stopped = signal.getsignal(signal.SIGINT) is ours
        return grid, (received[0] if received else "SIGINT") if stopped else None
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


class SearchResult:
    """A Ray search: ``grid`` (Tune's ``ResultGrid``), ``metric``, ``mode``, ``fixed``
    settings, ``interrupted``, and, unless interrupted, the chosen trial (the finished
    trial with the best validation score): ``best_params``, ``best_valid_score``,
    ``best_valid_result``, ``test_result``."""

    def __init__(self, grid, metric, mode, fixed, param_names, interrupted=False):
        self.grid, self.metric, self.mode, self.fixed = grid, metric, mode, fixed
        self.param_names = param_names
        self.interrupted = interrupted
        self.best = self.best_params = self.best_valid_score = None
        self.best_valid_result = self.test_result = None
        if not interrupted:
            self._choose()

    def _choose(self):
        """The best of the trials that finished their training, by their best validation
        score (the score the trainer kept; a trial the scheduler stopped lost at a rung and
        has no test result). Its saved result holds the validation and test metrics."""
        finished = [(result, read_trial_result(result.log_dir)) for result in self.grid if result.error is None]
        finished = [(result, saved) for result, saved in finished if saved is not None]
        if not finished:
            raise RuntimeError(f"no trial finished its training; see the trials in {self.grid.experiment_path}")
        pick = max if self.mode == "max" else min
        self.best, saved = pick(finished, key=lambda pair: pair[1]["best_valid_score"])
        self.best_params = {name: self.best.config[name] for name in self.param_names}
        self.best_valid_score = float(saved["best_valid_score"])
        self.best_valid_result = dict(saved["best_valid_result"])
        self.test_result = dict(saved["test_result"])

    def trials(self):
        """One row per trial: ``(name, params, validations, epochs, last score, best score,
        status)``, where status says whether the trial finished its training, was stopped
        early by the scheduler, or failed."""
        rows = []
        for result in self.grid:
            history = result.metrics_dataframe
            reported = history is not None and self.metric in history
            if reported:  # a trial restarted by --resume: its last attempt
                history = history.iloc[max(history.index[history["training_iteration"] == 1].tolist() or [0]) -
                                       history.index[0]:]
            scores = history[self.metric].tolist() if reported else []
            epochs = int(history["epoch"].iloc[-1]) + 1 if reported else 0
            if result.error is not None:
                status = "failed"
            elif self.interrupted:
                status = "finished" if read_trial_result(result.log_dir) else "not finished"
            elif read_trial_result(result.log_dir) is not None:
                status = "finished"
            else:
                status = "stopped early by the scheduler"
            best = (max if self.mode == "max" else min)(scores) if scores else float("nan")
            config = result.config or {}
            rows.append((os.path.basename(str(result.log_dir)), {n: config.get(n) for n in self.param_names},
                         len(scores), epochs, scores[-1] if scores else float("nan"), best, status))
        return rows

    def summary(self):
        """The trials as a text table, best score first."""
        rows = sorted(self.trials(), key=lambda row: row[5], reverse=self.mode == "max")
        width = max(len("parameters"), *(len(_shown(row[1])) for row in rows))
        lines = [f"{'trial':<18} {'parameters':<{width}} {'validations':>11} {'epochs':>6} "
                 f"{'last ' + self.metric:>16} {'best ' + self.metric:>16}  status"]
        for name, params, count, epochs, last, best, status in rows:
            lines.append(f"{name:<18} {_shown(params):<{width}} {count:>11} {epochs:>6} {last:>16.4f} "
                         f"{best:>16.4f}  {status}")
        return "\n".join(lines)


def _shown(params):
    return ", ".join(f"{name}={plain(value)}" for name, value in params.items())


# ---------------------------------------------------------------- command line

def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m recbole_denoise.hyper", description="Hyper-parameter search for recbole-denoise.",
        epilog="Fixed settings (model, dataset, epochs, valid_metric, seed, ...) belong in the fixed "
               "config yaml (--config_files), not on this command line.")
    add = parser.add_argument
    add("--config_files", required=True, help="fixed config yaml files, space separated; they name model and dataset")
    add("--params_file", required=True, help="search space, RecBole's params format")
    add("--tool", type=str.lower, choices=["hyperopt", "ray"], default="hyperopt")
    add("--algo", help=f"hyperopt: {'|'.join(HYPEROPT_ALGOS)} (default exhaustive); "
                       f"Ray: {'|'.join(RAY_ALGOS)} (default grid)")
    add("--max_evals", type=int, default=100, help="hyperopt: number of trials")
    add("--output_file", default="hyper_result.txt", help="hyperopt: every trial's results")
    add("--best_config", default="best_config.yaml", help="yaml written with fixed settings + best parameters")
    add("--num_samples", "--num-samples", type=int, default=1,
        help="Ray: trials (random, hyperopt) or repetitions of the grid (grid)")
    add("--scheduler", choices=["asha", "fifo"], default="asha", help="Ray: asha stops weak trials early")
    add("--max-t", "--max_t", type=int, default=None, dest="max_t",
        help="Ray ASHA: validations a trial may run (default: the fixed config's epochs / eval_step)")
    add("--grace-period", "--grace_period", type=int, default=1, dest="grace_period",
        help="Ray ASHA: validations before a trial can be stopped")
    add("--reduction-factor", "--reduction_factor", type=int, default=2, dest="reduction_factor",
        help="Ray ASHA: 1/factor of the trials at a rung go on")
    add("--cpus-per-trial", "--cpus_per_trial", type=float, default=1, dest="cpus_per_trial")
    add("--gpus-per-trial", "--gpus_per_trial", type=float, default=0, dest="gpus_per_trial")
    add("--address", default=None, help="Ray: address of a running cluster (default: a local Ray)")
    add("--local_dir", "--local-dir", default="ray_results", dest="local_dir", help="Ray: where experiments go")
    add("--name", default=None, help="Ray: experiment name (default: <model>-<dataset>-<time>)")
    add("--resume", default=None, help="Ray: folder of an interrupted experiment to continue")
    add("--search_seed", "--search-seed", type=int, default=None, dest="search_seed",
        help="Ray hyperopt: seed of the searcher")
    args = parser.parse_args(argv)
    valid = RAY_ALGOS if args.tool == "ray" else HYPEROPT_ALGOS
    args.algo = args.algo or valid[0]
    if args.algo not in valid:
        parser.error(f"--algo {args.algo} is not one of {', '.join(valid)} for --tool={args.tool}")
    return args


def main(argv=None):
    args = parse_args(argv)
    args.command = [sys.executable, "-m", "recbole_denoise.hyper"] + list(sys.argv[1:] if argv is None else argv)
    # RecBole's Config reads every --key=value of sys.argv: the search's options are not settings
    sys.argv[1:] = []
    from recbole_denoise.settings import SettingError

    try:
        search(args)
    except (SettingError, ValueError, OSError) as error:
        # a bad fixed setting, params file or path: a message and exit status 2, before any trial
        print(f"error: {error}", file=sys.stderr, flush=True)
        sys.exit(2)
    except RuntimeError as error:  # every trial failed
        print(f"error: {error}", file=sys.stderr, flush=True)
        sys.exit(1)


def search(args):
    """Run the search the parsed command line asks for."""
    files = args.config_files.split()
    if args.tool == "hyperopt":
        hyperopt_search(files, args.params_file, args.algo, args.max_evals, args.output_file, args.best_config)
        return
    search_target(fixed_settings(files))  # a bad setting or params file fails before Ray starts
    read_params_file(args.params_file)
    from recbole_denoise.runtime import signal_handlers_kept

    with signal_handlers_kept():  # import ray / ray.init replace SIGTERM's handler with an exit
        import ray

        if not ray.is_initialized():
            init_ray(args.address)
    result = ray_search(files, args.params_file, algo=args.algo, num_samples=args.num_samples,
                        scheduler=args.scheduler, max_t=args.max_t, grace_period=args.grace_period,
                        reduction_factor=args.reduction_factor, cpus_per_trial=args.cpus_per_trial,
                        gpus_per_trial=args.gpus_per_trial, local_dir=args.local_dir, name=args.name,
                        resume=args.resume, seed=args.search_seed)
    if result.interrupted:
        import shlex

        print(result.summary())
        command = [arg for arg in args.command if not arg.startswith("--resume")]
        print("interrupted: no best configuration chosen; continue the search with:\n"
              + shlex.join(command + [f"--resume={result.grid.experiment_path}"]), flush=True)
        raise KeyboardInterrupt(result.interrupted)  # exit status 130 / 143
    report(result, args.best_config)


def report(search, best_config):
    """Print the trial table, the chosen parameters with their validation and test
    results, and write ``best_config``."""
    print(search.summary())
    print(f"experiment: {search.grid.experiment_path}  (continue an interrupted one with --resume=<it>)")
    print("best parameters:", {name: plain(value) for name, value in search.best_params.items()})
    print(f"best valid {search.metric}: {search.best_valid_score}")
    print("best valid:", search.best_valid_result)
    print("test result:", search.test_result)
    if best_config:
        write_best_config(best_config, search.fixed, search.best_params)
        print(f"best config written to {best_config}: python run_recbole_denoise.py --config_files={best_config}")


if __name__ == "__main__":
    from recbole_denoise.runtime import run_entry_point

    run_entry_point(main)
