"""Train and test a model with recbole-denoise; the command line of RecBole's run_recbole.py.

    python run_recbole_denoise.py --model=GMF --dataset=ml-100k --loss_type=TCE

Any other ``--key=value`` overrides a config parameter, as with RecBole. Ctrl-C or
SIGTERM stops the run and prints the command that resumes it (``--resume_file=...``).
"""

import argparse

from recbole_denoise.runtime import run_entry_point


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", "-m", type=str, default="BPR", help="name of models")
    parser.add_argument("--dataset", "-d", type=str, default=None,
                        help="name of datasets (default: the model's default_dataset, else ml-100k)")
    parser.add_argument("--config_files", type=str, default=None, help="config files, space separated")
    args, _ = parser.parse_known_args()
    return args


def main():
    # imported here, under run_entry_point: an interrupt during the slow imports
    # (torch, RecBole) stops as cleanly as one during training
    from recbole_denoise.quick_start import run_recbole_denoise
    from recbole_denoise.utils import default_dataset

    args = parse_args()
    config_file_list = args.config_files.strip().split(" ") if args.config_files else None
    dataset = args.dataset or default_dataset(args.model)
    run_recbole_denoise(model=args.model, dataset=dataset, config_file_list=config_file_list)


if __name__ == "__main__":
    run_entry_point(main)
