"""recbole_denoise.config
##########################
A RecBole ``Config`` that layers this package's yaml files over RecBole's own.

Order, later wins: RecBole's ``overall.yaml`` / model / dataset yaml, then this
package's ``properties/overall.yaml``, ``properties/model/<Model>.yaml``,
``properties/dataset/<dataset>.yaml``, then the ``<dataset>.yaml`` a converter wrote
beside the atomic files, then the user's config files, dict and command line.

The final values are checked against ``recbole_denoise.settings`` before RecBole derives
anything from them: a value the code cannot honour is a ``SettingError`` naming key,
value, origin and what is expected; a key that nothing reads is a WARNING naming the
closest known key. ``use_gpu`` ends up saying whether the run uses a GPU.
"""

import copy
import logging
import os
import sys
from pathlib import Path

from recbole.config.configurator import Config as RecBoleConfig

from recbole_denoise.distributed import init_process_group
from recbole_denoise.settings import check_settings, unknown_key_message, unknown_keys
from recbole_denoise.utils import get_model, properties_dir, find_dataset_dir


class Config(RecBoleConfig):
    """RecBole's configurator, extended with this package's properties and models."""

    def __init__(self, model=None, dataset=None, config_file_list=None, config_dict=None):
        # RecBole completes nested settings in place (train_neg_sample_args gains alpha,
        # dynamic, candidate_num): work on a copy, so a caller's dict (a group spec's run,
        # a benchmark's base settings) stays what the caller wrote
        super().__init__(model, dataset, config_file_list, copy.deepcopy(config_dict))

    def _get_model_and_dataset(self, model, dataset):
        if model is None:
            model = self.external_config_dict.get("model")
            if model is None:
                raise KeyError(
                    "model must be given in one of: model argument, config file, "
                    "config dict, or command line (--model=NAME)"
                )
        if isinstance(model, str):
            model_name, model_class = model, get_model(model)
        else:
            model_name, model_class = model.__name__, model

        if dataset is None:
            dataset = self.external_config_dict.get("dataset")
            if dataset is None:
                raise KeyError(
                    "dataset must be given in one of: dataset argument, config file, "
                    "config dict, or command line (--dataset=NAME)"
                )
        return model_name, model_class, dataset

    def _load_internal_config_dict(self, model, model_class, dataset):
        super()._load_internal_config_dict(model, model_class, dataset)
        props = properties_dir()
        for path in (
            props / "overall.yaml",
            props / "model" / f"{model}.yaml",
            props / "dataset" / f"{dataset}.yaml",
        ):
            if path.is_file():
                self._update_internal_config_dict(str(path))
        converted_yaml = self._converted_dataset_yaml(dataset)
        if converted_yaml is not None:
            self._update_internal_config_dict(str(converted_yaml))
        # a model yaml must not change what RecBole derived from the class itself
        self.internal_config_dict["MODEL_TYPE"] = model_class.type

    def _converted_dataset_yaml(self, dataset):
        """The ``<dataset>.yaml`` a converter wrote next to the atomic files, if any."""
        data_path = self.external_config_dict.get(
            "data_path", self.internal_config_dict.get("data_path", "dataset/")
        )
        dataset_dir = find_dataset_dir(data_path, dataset)
        if dataset_dir is None:
            return None
        path = Path(dataset_dir) / f"{dataset}.yaml"
        return path if path.is_file() else None

    def _get_final_config_dict(self):
        final = super()._get_final_config_dict()
        for key, closest in unknown_keys(self.external_config_dict, self.internal_config_dict).items():
            self._warn(unknown_key_message(key, self.external_config_dict[key], closest), final)
        check_settings(final, self.model, origin=self._origin)
        return final

    def _origin(self, key):
        """Where the final value of ``key`` came from, in words."""
        for source, values in (("the command line", self.cmd_config_dict),
                               ("the config dict", self.variable_config_dict),
                               ("the config files", self.file_config_dict)):
            if key in values:
                return source
        return "the yaml defaults"

    @staticmethod
    def _warn(message, final):
        """A WARNING now, while the run's logger is not set up yet (then on stderr,
        unless ``state`` asks for errors only)."""
        root = logging.getLogger()
        if root.hasHandlers():
            root.warning(message)
        elif str(final.get("state") or "info").lower() not in ("error", "critical"):
            print(f"WARNING {message}", file=sys.stderr, flush=True)

    def _init_device(self):
        """RecBole's device choice, then ``use_gpu`` honoured and made true to the device:
        RecBole 1.2.1 ignores ``use_gpu`` (a GPU is used whenever one is visible) and keeps
        ``use_gpu = True`` on a machine without one.

        A process of a distributed run (``local_rank`` set by ``run_recbole_denoise(nproc=...)``)
        joins its process group here, as in RecBole, but with gloo on the CPU and NCCL on
        GPUs (``recbole_denoise.distributed.init_process_group``); RecBole hard-codes NCCL."""
        final = self.final_config_dict
        if "local_rank" in final:
            init_process_group(final)
            return
        super()._init_device()
        if not final["use_gpu"]:
            import torch

            final["device"] = torch.device("cpu")
        elif final["device"].type != "cuda":
            if self.external_config_dict.get("use_gpu"):
                self._warn("use_gpu = True, but no CUDA device is available (or gpu_id is empty): "
                           "running on the CPU", final)
            final["use_gpu"] = False

    def _set_default_parameters(self):
        # Resolve a bundled dataset before RecBole joins data_path and dataset name.
        if self.dataset != "ml-100k":
            data_path = self.final_config_dict.get("data_path", "dataset/")
            dataset_dir = find_dataset_dir(data_path, self.dataset)
            if dataset_dir is not None:
                self.final_config_dict["data_path"] = os.path.dirname(dataset_dir)
        super()._set_default_parameters()
