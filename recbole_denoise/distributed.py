"""recbole_denoise.distributed
################################
Training one model in several processes with ``DistributedDataParallel`` (DDP), under
RecBole's contract: ``nproc`` processes on this machine, ``world_size`` processes in
all, this machine's first process has global rank ``group_offset`` (config key
``offset``), and all meet at ``tcp://ip:port`` (the machine of rank 0).

What differs from RecBole 1.2.1's own path (``recbole.quick_start.run``):

- the backend follows the device: NCCL when the processes use GPUs, gloo on the CPU
  (RecBole hard-codes NCCL, so it cannot run on a CPU at all), and a CPU model is
  wrapped without ``device_ids`` (which torch refuses for CPU modules);
- evaluation is exact: each process evaluates its share of the rows, the per-row
  results (RecBole's collected ``rec.topk`` / ``rec.meanrank`` / ``rec.score`` /
  ``data.label``, or the own-items columns) are gathered from every process, the
  rows that ``DistributedSampler`` repeats to even out the shares are dropped, the
  rest put back in the single-process order, and the metrics computed once on all
  of them. RecBole averages each process's metric instead, weighted by a sample
  count that is always 4 (RecBole PR #1872): only an approximation for AUC, GAUC,
  LogLoss and the per-user ranking metrics;
- nothing imports RecBole's quick start, which imports ``ray`` and whose model lookup
  imports lightgbm / xgboost;
- the parent process forwards SIGINT / SIGTERM to every process and returns rank 0's
  result.
"""

import os
import signal
import time
from logging import getLogger

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel


# seconds the processes get to unwind (write their last log lines) after the parent
# forwarded an interrupt, before they are killed
STOP_GRACE_SECONDS = 20


# ---------------------------------------------------------------- launch (parent process)


def _setting_error(message):
    """``settings.SettingError(message)``, imported when needed: ``settings`` imports the
    trainers, which import this module."""
    from recbole_denoise.settings import SettingError

    return SettingError(message)

def check_launch(nproc, world_size, group_offset, port):
    """``world_size`` (``nproc`` when given as -1) after checking that the numbers
    describe processes that can exist; a ``SettingError`` names the first that cannot."""
    if not str(port).isdigit() or not 0 < int(port) < 65536:
        raise _setting_error(f"port must be a TCP port number from 1 to 65535 (free on the machine of rank 0), "
                           f"got {port!r}")
    if not isinstance(nproc, int) or nproc < 1:
        raise _setting_error(f"nproc must be an integer >= 1 (processes on this machine), got {nproc!r}")
    world_size = nproc if world_size in (None, -1) else world_size
    if not isinstance(world_size, int) or world_size < nproc:
        raise _setting_error(f"world_size must be an integer >= nproc = {nproc} (processes on all "
                           f"machines together), got {world_size!r}")
    if not isinstance(group_offset, int) or not 0 <= group_offset <= world_size - nproc:
        raise _setting_error(f"group_offset must be an integer from 0 to world_size - nproc = "
                           f"{world_size - nproc} (the global rank of this machine's first process), "
                           f"got {group_offset!r}")
    return world_size


def launch_config(nproc, world_size, ip, port, group_offset):
    """The config keys every process reads (RecBole's names: ``offset``, not ``group_offset``)."""
    return {"nproc": nproc, "world_size": world_size, "ip": str(ip), "port": str(port), "offset": group_offset}


def spawn(worker, args, nproc):
    """Run ``worker(local_rank, *args, queue)`` in ``nproc`` fresh processes ("spawn": no
    state is shared with this one). Returns ``(messages, stopped)``: what the processes
    put on the queue, and ``None`` if all of them ended normally, else what ended them
    early: this process's ``KeyboardInterrupt``, or torch's ``ProcessException`` for a
    process that failed (torch then stops the others).

    SIGINT / SIGTERM in this process (Ctrl-C reaches every process of the terminal
    anyway) are forwarded as SIGTERM to the processes still running, which then stop as
    on Ctrl-C."""
    import torch.multiprocessing as mp
    from torch.multiprocessing.spawn import ProcessException

    queue = mp.get_context("spawn").SimpleQueue()
    context = mp.start_processes(worker, args=(*args, queue), nprocs=nproc, join=False, start_method="spawn")
    messages, stopped = [], None
    try:
        while not context.join(timeout=1):
            _drain(queue, messages)  # a full pipe would block the process writing to it
    except KeyboardInterrupt as interrupt:
        _stop_processes(context.processes)
        stopped = interrupt
    except ProcessException as failure:
        stopped = failure
    _drain(queue, messages)
    return messages, stopped


def _drain(queue, messages):
    while not queue.empty():
        messages.append(queue.get())


def _stop_processes(processes):
    """SIGTERM to each live process (after a moment: Ctrl-C from a terminal reached them
    already, and a second interrupt would cut their unwinding short), then kill after
    :data:`STOP_GRACE_SECONDS`."""
    deadline = time.monotonic() + 1
    while any(process.is_alive() for process in processes) and time.monotonic() < deadline:
        time.sleep(0.05)
    for process in processes:
        if process.is_alive():
            os.kill(process.pid, signal.SIGTERM)
    for process in processes:
        process.join(max(0.0, deadline + STOP_GRACE_SECONDS - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join()


# ---------------------------------------------------------------- process group (each process)

def init_process_group(final):
    """What RecBole's ``Config._init_device`` does for a process of a distributed run
    (``final``: the final config dict, with ``local_rank``), with the backend that
    fits the device: NCCL on ``cuda:<local_rank>`` when ``use_gpu`` and CUDA devices
    are there, else gloo on the CPU. Sets ``device``, ``use_gpu``, ``single_spec``
    (False) and, as RecBole does, makes every process but global rank 0 quiet."""
    gpu_id = final["gpu_id"]
    gpu_id = ",".join(map(str, gpu_id)) if isinstance(gpu_id, (tuple, list)) else str(gpu_id)
    final["gpu_id"] = gpu_id
    os.environ["CUDA_VISIBLE_DEVICES"] = gpu_id
    local_rank, nproc = final["local_rank"], final["nproc"]
    if final["world_size"] <= 0:  # "--world_size=-1" on the command line, which Config reads too
        final["world_size"] = nproc
    use_gpu = bool(final["use_gpu"]) and len(gpu_id) > 0 and torch.cuda.is_available()
    if use_gpu:
        if torch.cuda.device_count() < nproc:
            raise _setting_error(f"nproc = {nproc} processes need one GPU each, but gpu_id = {gpu_id!r} "
                               f"makes {torch.cuda.device_count()} visible: list {nproc} GPUs in gpu_id, "
                               f"or set use_gpu = False to train on the CPU")
        final["device"] = torch.device("cuda", local_rank)
        torch.cuda.set_device(final["device"])
    else:
        final["device"] = torch.device("cpu")
    final["use_gpu"] = use_gpu
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_gpu else "gloo",
                                init_method=f"tcp://{final['ip']}:{final['port']}",
                                rank=local_rank + final["offset"], world_size=final["world_size"])
    final["single_spec"] = False
    if local_rank + final["offset"] != 0:
        final["state"] = "error"
        final["show_progress"] = False
        final["verbose"] = False


def is_distributed(config):
    return not config["single_spec"]


def global_rank(config):
    return config["local_rank"] + config["offset"] if is_distributed(config) else 0


def is_main_process(config):
    """Whether this process writes checkpoints, logs and results (global rank 0)."""
    return global_rank(config) == 0


def end_process_group():
    if dist.is_initialized():
        dist.destroy_process_group()


def wrap_model(config, model):
    """``DistributedDataParallel`` around ``model``: on a GPU as RecBole does it (with
    ``device_ids``), on the CPU without (torch refuses ``device_ids`` for CPU modules).
    Wrapping broadcasts rank 0's parameters, so every process starts from them."""
    if config["device"].type == "cuda":
        return DistributedDataParallel(model, device_ids=[config["local_rank"]])
    if is_main_process(config) and any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        # SyncBatchNorm runs on GPUs only: on the CPU each process normalises its own rows
        getLogger().warning(
            f"{type(model).__name__} has BatchNorm layers: on the CPU their batch statistics are per process "
            f"(SyncBatchNorm needs GPUs), so its results differ from a single-process run")
    return DistributedDataParallel(model)


# ---------------------------------------------------------------- collectives

def all_gather_objects(value):
    """``[value of rank 0, value of rank 1, ...]`` (picklable values, tensors on the CPU)."""
    gathered = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, value)
    return gathered


def sum_over_ranks(values):
    """Element-wise sums of a list of numbers over all processes (float64, then back to
    the type of each input)."""
    total = torch.tensor([float(v) for v in values], dtype=torch.float64)
    total = torch.stack([torch.as_tensor(t) for t in all_gather_objects(total)]).sum(dim=0)
    return [type(v)(t) for v, t in zip(values, total.tolist())]


def mean_over_ranks(value):
    """Mean over all processes of a number or a tuple of numbers."""
    if isinstance(value, tuple):
        return tuple(total / dist.get_world_size() for total in sum_over_ranks(list(value)))
    return sum_over_ranks([float(value)])[0] / dist.get_world_size()


def from_main_process(config, produce):
    """``produce()`` run on global rank 0 only and handed to every process: a checkpoint
    that lives on rank 0's disk (on several machines the others have no copy). An
    exception on rank 0 is raised on every process, so none waits for ever."""
    payload = [None]
    if is_main_process(config):
        try:
            payload[0] = ("value", produce())
        except Exception as error:  # raised below, on every process
            payload[0] = ("error", error)
    dist.broadcast_object_list(payload, src=0)
    kind, value = payload[0]
    if kind == "error":
        raise value
    return value


# ---------------------------------------------------------------- exact evaluation

def shard_indices(loader):
    """The sample indices this process's part of ``loader`` visits, in order (its
    ``DistributedSampler``: rank r takes every world_size-th of ``0..n-1``, the last
    ones repeated from the start so that every process gets as many)."""
    return np.fromiter(iter(loader.sampler), dtype=np.int64)


def rows_per_sample(loader, indices, n_rows):
    """Rows each sample of ``indices`` contributed to a collected tensor of ``n_rows``
    rows: one (a user in ranking evaluation, an interaction in labeled evaluation), or
    a user's positives times (1 + negatives) when a value metric is evaluated on
    sampled negatives (RecBole's ``NegSampleEvalDataLoader``)."""
    if n_rows == len(indices):
        return np.ones(len(indices), dtype=np.int64)
    uid2items_num = getattr(loader, "uid2items_num", None)
    if uid2items_num is not None and getattr(loader, "uid_list", None) is not None:
        counts = np.asarray(uid2items_num)[np.asarray(loader.uid_list)[indices]] * loader.times
        if counts.sum() == n_rows:
            return counts.astype(np.int64)
    raise ValueError(f"distributed evaluation: {n_rows} collected rows do not match the {len(indices)} samples "
                     f"this process evaluated ({type(loader).__name__})")


def gather_rows(loader, columns):
    """Every process's rows of ``columns`` (``{name: tensor}``, first dimension = rows of
    the samples this process evaluated, in order), gathered and put in single-process
    order: sample 0's rows first, each sample once (the copies ``DistributedSampler``
    adds are dropped). Every process gets the whole result."""
    indices = shard_indices(loader)
    local = {name: tensor.detach().cpu() for name, tensor in columns.items()}
    counts = {name: rows_per_sample(loader, indices, len(tensor)) for name, tensor in local.items()}
    shards = all_gather_objects((indices, local, counts))
    all_indices = np.concatenate([shard[0] for shard in shards])
    _, first = np.unique(all_indices, return_index=True)  # ascending sample index, lowest rank's copy
    merged = {}
    for name in local:
        shard_counts = [shard[2][name] for shard in shards]
        counts_all = np.concatenate(shard_counts)
        # where each sample's rows start in the concatenation of every process's rows
        starts = np.concatenate([[0], np.cumsum(counts_all)[:-1]]).astype(np.int64)
        chosen_starts, chosen_counts = starts[first], counts_all[first]
        offsets = np.arange(chosen_counts.sum()) - np.repeat(np.cumsum(chosen_counts) - chosen_counts, chosen_counts)
        rows = np.repeat(chosen_starts, chosen_counts) + offsets
        merged[name] = torch.cat([shard[1][name] for shard in shards])[torch.from_numpy(rows)]
    return merged


# RecBole's collected tensors with one entry (row) per evaluated sample or interaction
ROW_KEYS = ("rec.items", "rec.topk", "rec.meanrank", "rec.score", "data.label")


class GatheredEvaluator:
    """RecBole's ``Evaluator``, fed with every process's rows (:func:`gather_rows`): the
    metrics are computed once, on all rows, as a single process computes them."""

    def __init__(self, evaluator):
        self.evaluator = evaluator
        self.loader = None  # the dataloader under evaluation; set by the trainer

    def evaluate(self, struct):
        present = {key: struct[key] for key in ROW_KEYS if key in struct}
        for key, tensor in gather_rows(self.loader, present).items():
            struct.set(key, tensor)
        return self.evaluator.evaluate(struct)

    def __getattr__(self, name):
        return getattr(self.evaluator, name)


def quiet_logger():
    """The logging of a process other than rank 0: errors on the console, no log file."""
    import logging

    root = logging.getLogger()
    for handler in root.handlers[:]:
        root.removeHandler(handler)
    handler = logging.StreamHandler()
    handler.setLevel(logging.ERROR)
    root.addHandler(handler)
    root.setLevel(logging.ERROR)


class NullWriter:
    """Stands in for RecBole's tensorboard ``SummaryWriter`` on the processes that log
    nothing."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def silence_tensorboard(writer):
    """Close a ``SummaryWriter`` that a process other than rank 0 opened, remove its
    event file (and its folder, if that is left empty) and return a :class:`NullWriter`."""
    event_file = getattr(getattr(writer._get_file_writer(), "event_writer", None), "_file_name", None)
    writer.close()
    if event_file and os.path.exists(event_file):
        os.unlink(event_file)
        try:
            os.rmdir(os.path.dirname(event_file))
        except OSError:  # rank 0's events share the folder
            pass
    getLogger().debug("tensorboard: only rank 0 writes events")
    return NullWriter()
