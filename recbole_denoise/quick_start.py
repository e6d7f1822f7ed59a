"""recbole_denoise.quick_start
###############################
``run_recbole_denoise`` and ``objective_function``: RecBole's quick start with this
package's config, registry, datasets and trainers.
"""

import os
import signal
import sys
import warnings
from logging import getLogger

from recbole.utils import get_environment, init_seed, set_color

from recbole_denoise import distributed
from recbole_denoise.config import Config
from recbole_denoise.settings import SettingError
from recbole_denoise.trainer.denoise_trainer import epoch_log_line
from recbole_denoise.runtime import (
    TrainingInterrupted, init_run_logger, quiet_known_warnings, resume_command, signal_name, stop_on_sigterm,
)
from recbole_denoise.trainer.checkpoint import resume_file_for
from recbole_denoise.utils import create_dataset, data_preparation, get_model, get_trainer


def prepare(config):
    """``(dataset, (train, valid, test), model, trainer)`` for a ``Config``, seeded as
    RecBole does and resumed from ``resume_file`` if set: everything
    ``run_recbole_denoise`` uses, for scripts that train or inspect a model themselves.

    A process of a distributed run is seeded with ``seed + global rank`` (RecBole: ``seed
    + local_rank``, which repeats across machines); the model is then replaced by rank
    0's when the trainer wraps it, so all start from the single-process initialisation."""
    dataset = create_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    init_seed(config["seed"] + distributed.global_rank(config), config["reproducibility"])
    model = get_model(config["model"])(config, train_data._dataset).to(config["device"])
    trainer = get_trainer(config["MODEL_TYPE"], config["model"], config)(config, model)
    if config["resume_file"]:
        trainer.resume_checkpoint(config["resume_file"])
    return dataset, (train_data, valid_data, test_data), model, trainer


def _result(config, trainer, best_valid_score, best_valid_result, test_result):
    result = {
        "best_valid_score": best_valid_score,
        "valid_score_bigger": config["valid_metric_bigger"],
        "best_valid_result": best_valid_result,
        "test_result": test_result,
    }
    history = getattr(getattr(trainer, "diagnostics", None), "history", None)
    if history:
        result["denoising"] = history[-1]
    return result


def run_recbole_denoise(model=None, dataset=None, config_file_list=None, config_dict=None, saved=True,
                        nproc=1, world_size=-1, ip="localhost", port="5678", group_offset=0):
    r"""Train and test a model, like RecBole's ``run_recbole`` (and ``run``, for several
    processes).

    Args:
        model (str): model name, of this package or of RecBole.
        dataset (str): dataset name (``dataset/<name>/`` or ``ml-100k``).
        config_file_list (list of str): yaml files layered over the defaults.
        config_dict (dict): parameters layered over the files.
        saved (bool): save the best model and test with it.
        nproc (int): processes on this machine; above 1 (or with ``world_size`` > 0) the
            model trains with DistributedDataParallel (``recbole_denoise.distributed``):
            gloo on the CPU, NCCL on GPUs (one per process).
        world_size (int): processes on all machines (-1: ``nproc``).
        ip, port: where the processes meet (the machine of global rank 0).
        group_offset (int): global rank of this machine's first process.

    Returns:
        dict: RecBole's result dict (``best_valid_score``, ``valid_score_bigger``,
        ``best_valid_result``, ``test_result``), plus ``denoising``, the last epoch's
        drop diagnostics, when the ``DenoiseTrainer`` ran. Distributed: global rank 0's
        (``None`` on the other machines); the metrics are computed on every process's
        rows, so they are the run's, not rank 0's.

    Raises:
        TrainingInterrupted: on Ctrl-C (or SIGTERM, under ``runtime.stop_on_sigterm``),
        after logging the last resume point and the command that continues from it.
    """
    if nproc != 1 or world_size > 0:
        return _run_processes(model, dataset, config_file_list, config_dict, saved,
                              nproc, world_size, ip, port, group_offset)
    return _run(model, dataset, config_file_list, config_dict, saved)


def _run(model, dataset, config_file_list, config_dict, saved):
    """One process's run: the whole run, or one rank of a distributed one."""
    quiet_known_warnings()
    config = Config(model=model, dataset=dataset, config_file_list=config_file_list, config_dict=config_dict)
    init_seed(config["seed"], config["reproducibility"])
    if distributed.is_main_process(config):
        init_run_logger(config)
    else:
        distributed.quiet_logger()
    logger = getLogger()
    logger.info(sys.argv)
    logger.info(config)

    trainer = None
    try:
        dataset, data, model, trainer = prepare(config)
        logger.info(dataset)
        logger.info(model)
        return _train_and_test(config, trainer, data, saved)
    except KeyboardInterrupt as interrupt:
        stopped = _training_interrupted(interrupt, trainer, config, config_file_list, config_dict)
        if distributed.is_main_process(config):
            logger.error(str(stopped))
        raise stopped from interrupt


def _train_and_test(config, trainer, data, saved):
    train_data, valid_data, test_data = data
    logger = getLogger()
    best_valid_score, best_valid_result = trainer.fit(
        train_data, valid_data, saved=saved, show_progress=config["show_progress"]
    )
    test_result = trainer.evaluate(test_data, load_best_model=saved, show_progress=config["show_progress"])

    logger.info(f"The running environment of this training (device: {config['device']}) is as follows:\n"
                + get_environment(config).draw())
    logger.info(set_color("best valid ", "yellow") + f": {best_valid_result}")
    logger.info(set_color("test result", "yellow") + f": {test_result}")
    result = _result(config, trainer, best_valid_score, best_valid_result, test_result)
    if "denoising" in result:
        logger.info(set_color("denoising (last epoch)", "yellow") + ": "
                    + epoch_log_line(config["loss_type"], result["denoising"]))
    return result


def _training_interrupted(interrupt, trainer, config, config_file_list, config_dict):
    """The ``TrainingInterrupted`` for ``interrupt``: the resume file ``trainer`` has
    written so far (written atomically, so complete) and the command that continues it."""
    saved_model_file = getattr(trainer, "saved_model_file", None)
    resume_file = saved_model_file and resume_file_for(saved_model_file)
    if not resume_file or not os.path.exists(resume_file):
        return TrainingInterrupted(signal_name(interrupt), None, None)
    command = resume_command(resume_file, config["model"], config["dataset"], config_file_list,
                             _resumable_settings(config_dict))
    return TrainingInterrupted(signal_name(interrupt), resume_file, command)


def _resumable_settings(config_dict):
    """``config_dict`` as a command line gives it: a distributed run's ``offset`` is the
    option ``--group_offset``, and ``local_rank`` belongs to one process only."""
    settings = dict(config_dict or {})
    settings.pop("local_rank", None)
    if "offset" in settings:
        settings["group_offset"] = settings.pop("offset")
    return settings


def _run_processes(model, dataset, config_file_list, config_dict, saved, nproc, world_size, ip, port, group_offset):
    """``nproc`` processes of a distributed run, each :func:`_run_rank`; rank 0's result."""
    world_size = distributed.check_launch(nproc, world_size, group_offset, port)
    # the settings are checked once, here, before any process starts
    Config(model=model, dataset=dataset, config_file_list=config_file_list, config_dict=config_dict)
    config_dict = dict(config_dict or {}, **distributed.launch_config(nproc, world_size, ip, port, group_offset))
    messages, stopped = distributed.spawn(_run_rank, (model, dataset, config_file_list, config_dict, saved), nproc)
    for kind, rank, payload in messages:
        if kind == "setting_error":
            raise SettingError(payload)
    for kind, rank, payload in messages:
        if kind == "interrupted" and rank == 0:
            raise TrainingInterrupted(*payload)
    if stopped is not None:
        raise stopped
    results = [payload for kind, rank, payload in messages if kind == "result"]
    return results[0] if results else None


def _run_rank(local_rank, model, dataset, config_file_list, config_dict, saved, queue):
    """One process of :func:`_run_processes` (a fresh interpreter). Puts ``(kind, global
    rank, payload)`` on ``queue``: rank 0's ``result``; ``interrupted`` with what
    ``TrainingInterrupted`` holds; ``setting_error``. An interrupted process exits
    with 128 + the signal number, so that the parent stops the others."""
    quiet_known_warnings()
    stop_on_sigterm()
    rank = local_rank + config_dict["offset"]
    try:
        result = _run(model, dataset, config_file_list, dict(config_dict, local_rank=local_rank), saved)
        if rank == 0:
            queue.put(("result", rank, result))
    except KeyboardInterrupt as interrupt:  # a TrainingInterrupted once the run has started
        name = signal_name(interrupt)
        if isinstance(interrupt, TrainingInterrupted):
            queue.put(("interrupted", rank, (name, interrupt.resume_file, interrupt.resume_command)))
        sys.exit(128 + signal.Signals[name].value)
    except SettingError as error:
        queue.put(("setting_error", rank, str(error)))
        sys.exit(2)
    finally:
        distributed.end_process_group()


def objective_function(config_dict=None, config_file_list=None, saved=True):
    r"""One trial for ``recbole.trainer.HyperTuning`` and for Ray Tune.

    Same contract as RecBole's ``objective_function``: returns ``model``,
    ``best_valid_score``, ``valid_score_bigger``, ``best_valid_result`` and
    ``test_result``. Inside a Ray Tune trial it reports after every validation, and only
    then, the validation metric under its own name (``{"recall@10": ..., "epoch": ...}``
    for ``valid_metric: Recall@10``), so ``training_iteration`` counts validations as
    ASHA expects (RecBole reports once, after training, which leaves ASHA nothing to
    stop early). The test result is returned, never reported: selection sees validation only.
    """
    quiet_known_warnings()
    config = Config(config_dict=config_dict, config_file_list=config_file_list)
    init_seed(config["seed"], config["reproducibility"])
    init_run_logger(config)
    _, (train_data, valid_data, test_data), _, trainer = prepare(config)
    tune_session = _tune_session()
    metric = config["valid_metric"].lower()

    def report_validation(epoch_idx, valid_score):
        tune_session.report({metric: float(valid_score), "epoch": epoch_idx})

    best_valid_score, best_valid_result = trainer.fit(
        train_data, valid_data, verbose=False, saved=saved,
        callback_fn=report_validation if tune_session is not None else None,
    )
    test_result = trainer.evaluate(test_data, load_best_model=saved)
    result = _result(config, trainer, best_valid_score, best_valid_result, test_result)
    result["model"] = config["model"]
    return result


def _tune_session():
    """Ray Tune's session inside a Tune trial, else ``None``."""
    if "ray.tune" not in sys.modules:
        # a Tune trial has imported it already; importing Ray here would only slow
        # down (and, under hyperopt's wrapped stdout, break) runs outside Ray
        return None
    from ray.air import session

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Ray warns when asked outside a trial
        return session if session.get_trial_name() is not None else None
