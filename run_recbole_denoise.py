"""Train and test a model with recbole-denoise; the command line of RecBole's run_recbole.py.

    python run_recbole_denoise.py --model=GMF --dataset=ml-100k --loss_type=TCE

Any other ``--key=value`` overrides a config parameter, as with RecBole. ``--nproc=N``
trains with N processes (DistributedDataParallel: gloo on the CPU, NCCL on GPUs);
``--world_size``, ``--ip``, ``--port`` and ``--group_offset`` spread the processes over
several machines, one command per machine (README, "More than one process"). Ctrl-C or
SIGTERM stops the run and prints the command that resumes it (``--resume_file=...``).
A model name that does not exist or a setting the code cannot honour stops the run
before it starts, with exit status 2 and a message naming what is wrong.
"""

import argparse
import sys

from recbole_denoise import catalog
from recbole_denoise.runtime import run_entry_point

# exit status of a command line that names a model, dataset or setting that cannot work
USAGE_ERROR = 2


def help_epilog():
    """The ``--help`` text after the options: models, bundled datasets, where keys live."""
    recbole = ", ".join(f"{folder.replace('_recommender', '')}: {len(names)}"
                        for folder, names in catalog.recbole_model_names().items())
    return "\n".join([
        "models of recbole_denoise:",
        "  " + ", ".join(catalog.package_model_names()),
        f"  and RecBole's own models by name ({recbole}; e.g. BPR, LightGCN, NeuMF, SASRec)",
        "datasets bundled (dataset/ folder, plus RecBole's ml-100k):",
        "  " + ", ".join(catalog.bundled_dataset_names()),
        "  or any folder <data_path>/<name>/ with RecBole atomic files (see dataset/README.md)",
        "settings (--key=value):",
        "  this package's keys, with type and meaning: properties/overall.yaml (all models),",
        "  properties/model/<Model>.yaml, properties/dataset/<dataset>.yaml; README.md,",
        "  'Use it like RecBole'; RecBole's keys: https://recbole.io/docs/user_guide/config_settings.html",
        "example:",
        "  python run_recbole_denoise.py --model=GMF --dataset=ml-100k --loss_type=TCE --epochs=20",
    ])


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=help_epilog(),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", "-m", type=str, default=None,
                        help="model name, of this package or of RecBole (default: the config files' "
                             "model, else BPR)")
    parser.add_argument("--dataset", "-d", type=str, default=None,
                        help="dataset name (default: the model's default_dataset, else ml-100k)")
    parser.add_argument("--config_files", type=str, default=None, help="config files, space separated")
    parser.add_argument("--nproc", type=int, default=1,
                        help="processes on this machine (DistributedDataParallel above 1; default 1)")
    parser.add_argument("--world_size", type=int, default=-1,
                        help="processes on all machines together (default: nproc)")
    parser.add_argument("--ip", type=str, default="localhost", help="address of the machine of rank 0")
    parser.add_argument("--port", type=str, default="5678", help="a free port on the machine of rank 0")
    parser.add_argument("--group_offset", type=int, default=0,
                        help="global rank of this machine's first process (default 0)")
    args, _ = parser.parse_known_args()
    # a config file that names model or dataset (recbole_denoise.hyper's best_config.yaml)
    # runs as it is
    named = _named_in_files(args.config_files)
    args.model = args.model or named.get("model") or "BPR"
    args.dataset = args.dataset or named.get("dataset")
    return args


def _named_in_files(config_files):
    """``model`` and ``dataset`` as the config files name them (later files win)."""
    import yaml

    named = {}
    for path in (config_files or "").split():
        with open(path, encoding="utf-8") as handle:
            values = yaml.safe_load(handle) or {}
        named.update({key: values[key] for key in ("model", "dataset") if values.get(key)})
    return named


def usage_error(message):
    print(f"error: {message}", file=sys.stderr, flush=True)
    sys.exit(USAGE_ERROR)


def main():
    args = parse_args()  # before the slow imports: --help and a misspelt model answer at once
    if not catalog.is_model_name(args.model):
        usage_error(catalog.unknown_model_message(args.model))
    # imported here, under run_entry_point: an interrupt during the slow imports
    # (torch, RecBole) stops as cleanly as one during training
    from recbole_denoise.quick_start import run_recbole_denoise
    from recbole_denoise.settings import SettingError
    from recbole_denoise.utils import default_dataset

    config_file_list = args.config_files.strip().split(" ") if args.config_files else None
    dataset = args.dataset or default_dataset(args.model)
    try:
        run_recbole_denoise(model=args.model, dataset=dataset, config_file_list=config_file_list,
                            nproc=args.nproc, world_size=args.world_size, ip=args.ip, port=args.port,
                            group_offset=args.group_offset)
    except SettingError as error:
        usage_error(str(error))


if __name__ == "__main__":
    run_entry_point(main)
