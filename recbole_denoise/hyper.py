"""Hyper-parameter search with this package's models, like RecBole's run_hyper.py.

    python -m recbole_denoise.hyper --config_files=fixed.yaml --params_file=space.hyper
    python -m recbole_denoise.hyper --config_files=fixed.yaml --params_file=space.hyper --tool=Ray

``fixed.yaml`` names ``model`` and ``dataset`` and any fixed parameters; the params
file uses RecBole's format, one parameter a line::

    learning_rate choice [0.01, 0.005, 0.001]
    drop_rate uniform 0.05, 0.3
    beta loguniform -3, 0          # bounds in log space, as hyperopt's loguniform

With ``--tool=Ray`` each trial reports its validation score after every validation,
so the ASHA scheduler stops weak trials early.
"""

import argparse
import ast
import math
import os

from recbole_denoise.quick_start import objective_function


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


def _ray_space(space):
    from ray import tune

    def one(kind, values):
        if kind == "choice":
            return tune.grid_search(list(values))
        if kind == "uniform":
            return tune.uniform(*values)
        return tune.loguniform(math.exp(values[0]), math.exp(values[1]))

    return {name: one(kind, values) for name, (kind, values) in space.items()}


def hyperopt_search(config_file_list, params_file, algo="exhaustive", max_evals=100, output_file=None):
    """RecBole's ``HyperTuning`` (hyperopt) over this package's ``objective_function``."""
    from recbole.trainer import HyperTuning

    tuner = HyperTuning(
        objective_function, algo=algo, max_evals=max_evals, params_file=params_file,
        fixed_config_file_list=config_file_list,
    )
    tuner.run()
    if output_file:
        tuner.export_result(output_file=output_file)
    return tuner


def ray_search(config_file_list, params_file, num_samples=1, max_epochs=100,
               local_dir="ray_results", cpus_per_trial=1, fixed_config=None, early_stopping=True):
    """Ray Tune search; with ``early_stopping`` ASHA stops weak trials on the
    per-epoch ``valid_score`` (otherwise every trial runs to the end)."""
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    config_file_list = [os.path.abspath(path) for path in config_file_list]
    fixed = dict(fixed_config or {})

    def trial(params):
        # reports go through the Tune session; a returned dict would be one more report
        objective_function(dict(fixed, **params), config_file_list)

    scheduler = None
    if early_stopping:
        scheduler = ASHAScheduler(metric="valid_score", mode="max", max_t=max_epochs, grace_period=1)
    return tune.run(
        trial,
        config=_ray_space(read_params_file(params_file)),
        num_samples=num_samples,
        scheduler=scheduler,
        resources_per_trial={"cpu": cpus_per_trial},
        local_dir=os.path.abspath(local_dir),
        verbose=1,
    )


def main():
    parser = argparse.ArgumentParser(description="Hyper-parameter search for recbole-denoise")
    parser.add_argument("--config_files", required=True, help="fixed config files, space separated")
    parser.add_argument("--params_file", required=True, help="search space, RecBole's params format")
    parser.add_argument("--tool", choices=["Hyperopt", "Ray"], default="Hyperopt")
    parser.add_argument("--algo", default="exhaustive", help="hyperopt: exhaustive, random or bayes")
    parser.add_argument("--max_evals", type=int, default=100)
    parser.add_argument("--num_samples", type=int, default=1, help="Ray: samples of the space")
    parser.add_argument("--output_file", default="hyper_result.txt")
    args, _ = parser.parse_known_args()
    files = args.config_files.split()
    if args.tool == "Hyperopt":
        hyperopt_search(files, args.params_file, args.algo, args.max_evals, args.output_file)
    else:
        analysis = ray_search(files, args.params_file, num_samples=args.num_samples)
        print("best config:", analysis.get_best_config(metric="valid_score", mode="max"))


if __name__ == "__main__":
    main()
