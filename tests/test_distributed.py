"""DistributedDataParallel on the CPU: 2 processes (gloo) against a single process.

(a) The same weights, evaluated by 2 processes, give exactly the single-process metrics:
    full ranking (Recall, NDCG, GAUC: RecBole's collected rows), labeled evaluation (AUC,
    LogLoss: RecBole's value metrics on the gathered scores) and the own-items protocol
    (AUC, GAUC, LogLoss, Recall, NDCG over each user's own test videos), on the bundled
    microvideo-sim data. Averaging the per-process metrics, as RecBole does, misses them.
(b) A 2-process training of GMF with T-CE on ml-100k finishes, writes one best model
    and one resume point, adds up both processes' drop diagnostics, and its test metrics
    are close to the single-process run's.
"""

import glob
import socket

import pytest
import torch
from recbole.utils import init_seed

from recbole_denoise import distributed
from recbole_denoise.config import Config
from recbole_denoise.quick_start import prepare, run_recbole_denoise
from recbole_denoise.settings import SettingError

QUIET = {"state": "ERROR", "show_progress": False, "use_gpu": False, "reproducibility": True}

# three evaluations of one GMF checkpoint trained on microvideo-sim (the dataset's own
# yaml: labeled rows, split 0.6 / 0.2 / 0.2 by time, own-items evaluation)
EVALUATIONS = {
    "own_items": {},
    "labeled": {"own_items_eval": False, "metrics": ["AUC", "LogLoss"], "valid_metric": "AUC"},
    "full_ranking": {"own_items_eval": False, "metrics": ["Recall", "NDCG", "GAUC"], "topk": [5, 20],
                     "valid_metric": "Recall@20",
                     "eval_args": {"split": {"RS": [0.6, 0.2, 0.2]}, "order": "TO", "group_by": "user",
                                   "mode": "full"}},
}


def free_port():
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        return str(probe.getsockname()[1])


def evaluate_checkpoint(checkpoint, checkpoint_dir, launch=None):
    """``{evaluation: test result}`` of ``checkpoint`` under each of :data:`EVALUATIONS`;
    ``launch`` (``local_rank`` and the process-group keys) makes this one process of a
    distributed evaluation."""
    results = {}
    for name, settings in EVALUATIONS.items():
        config = Config(model="GMF", dataset="microvideo-sim", config_dict=dict(
            QUIET, checkpoint_dir=checkpoint_dir, **settings, **(launch or {})))
        init_seed(config["seed"], config["reproducibility"])  # as run_recbole_denoise does
        _, (_, _, test_data), _, trainer = prepare(config)
        results[name] = dict(trainer.evaluate(test_data, model_file=checkpoint))
    return results


def _evaluate_rank(local_rank, checkpoint, checkpoint_dir, launch, queue):
    try:
        results = evaluate_checkpoint(checkpoint, checkpoint_dir, dict(launch, local_rank=local_rank))
        if local_rank == 0:
            queue.put(("result", 0, results))
    finally:
        distributed.end_process_group()


@pytest.fixture(scope="module")
def microvideo_checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ddp-eval")
    run_recbole_denoise(model="GMF", dataset="microvideo-sim", config_dict=dict(
        QUIET, checkpoint_dir=str(folder), epochs=2, own_items_eval=False, metrics=["AUC"], valid_metric="AUC"))
    best, = [path for path in glob.glob(str(folder / "GMF-*.pth")) if not path.endswith("-resume.pth")]
    return best, str(folder)


def test_two_processes_evaluate_exactly_as_one(microvideo_checkpoint, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    checkpoint, folder = microvideo_checkpoint
    single = evaluate_checkpoint(checkpoint, folder)
    launch = distributed.launch_config(2, 2, "localhost", free_port(), 0)
    messages, stopped = distributed.spawn(_evaluate_rank, (checkpoint, folder, launch), 2)
    assert stopped is None
    (_, _, two), = messages

    assert two == single  # every metric, to the last digit
    assert set(single["own_items"]) >= {"auc", "gauc", "logloss", "recall@3", "ndcg@5", "users_ranked"}
    assert set(single["labeled"]) == {"auc", "logloss"}
    assert set(single["full_ranking"]) == {"recall@5", "recall@20", "ndcg@5", "ndcg@20", "gauc"}


def test_gathered_rows_drop_the_padding_and_keep_the_order(monkeypatch):
    # DistributedSampler's shares of 5 samples for 2 processes: 0 2 4 | 1 3 0 (0 repeated
    # to even them); process 1 also scored its copy of sample 0
    class Loader:
        def __init__(self, indices):
            self.sampler = indices

    shares = [(Loader([0, 2, 4]), torch.tensor([10.0, 12.0, 14.0])),
              (Loader([1, 3, 0]), torch.tensor([11.0, 13.0, 10.0]))]
    # what all_gather_objects would hand every process: each one's (indices, rows, counts)
    every_process = [(distributed.shard_indices(loader), {"x": rows}, {"x": [1, 1, 1]}) for loader, rows in shares]
    monkeypatch.setattr(distributed, "all_gather_objects", lambda value: every_process)
    merged = distributed.gather_rows(shares[1][0], {"x": shares[1][1]})
    assert merged["x"].tolist() == [10.0, 11.0, 12.0, 13.0, 14.0]


ML100K_TCE = dict(QUIET, epochs=3, loss_type="TCE", drop_rate=0.2, num_gradual=100, train_batch_size=2048,
                  eval_batch_size=40960, metrics=["Recall", "NDCG"], topk=[20], valid_metric="Recall@20")


def test_two_process_tce_training_is_close_to_one_process(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    single = run_recbole_denoise(model="GMF", dataset="ml-100k", config_dict=dict(
        ML100K_TCE, checkpoint_dir=str(tmp_path / "one")))
    two = run_recbole_denoise(model="GMF", dataset="ml-100k", nproc=2, port=free_port(), config_dict=dict(
        ML100K_TCE, checkpoint_dir=str(tmp_path / "two")))

    # one best model, its resume point and its diagnostics, written by rank 0 only
    written = glob.glob(str(tmp_path / "two" / "*"))
    assert len(written) == 3
    best, = [path for path in written if path.endswith(".pth") and not path.endswith("-resume.pth")]
    stem = best[: -len(".pth")]
    assert sorted(written) == sorted([best, stem + "-resume.pth", stem + "-denoising.csv"])
    with open(stem + "-denoising.csv") as diagnostics:
        assert len(diagnostics.read().splitlines()) == 1 + ML100K_TCE["epochs"]  # header, one row per epoch
    # the resume point keeps each process's generators (numpy's draws the negatives; seeds differ)
    per_rank = torch.load(stem + "-resume.pth", weights_only=True)["random_state_per_rank"]
    assert len(per_rank) == 2 and not torch.equal(per_rank[0]["numpy"]["keys"], per_rank[1]["numpy"]["keys"])
    # both processes' drop counts add up to the single-process epoch: every training
    # positive once, plus at most one that DistributedSampler repeats to even the shares
    assert 0 <= two["denoising"]["positives"] - single["denoising"]["positives"] <= 1
    assert two["denoising"]["false_positives"] - single["denoising"]["false_positives"] in (0, 1)
    assert two["denoising"]["drop_rate"] == pytest.approx(single["denoising"]["drop_rate"], abs=0.01)
    # not equal: the processes shuffle and draw negatives differently (DistributedSampler's
    # order, seeds seed + rank) and T-CE truncates within each half batch. 0.02 is about
    # three standard deviations of this single-process run over seeds 2020-2023 (Recall@20
    # 0.165-0.179, std 0.005; NDCG@20 0.138-0.154, std 0.006); 2 processes, seeds
    # 2020 / 2021, were 0.007 / 0.006 above their single-process Recall@20
    for metric in ("recall@20", "ndcg@20"):
        assert two["test_result"][metric] == pytest.approx(single["test_result"][metric], abs=0.02)


@pytest.mark.parametrize("launch, named", [
    ({"nproc": 0}, "nproc must be an integer >= 1"),
    ({"nproc": 2, "world_size": 1}, "world_size must be an integer >= nproc = 2"),
    ({"nproc": 2, "world_size": 4, "group_offset": 3}, "group_offset must be an integer from 0 to .* = 2"),
    ({"nproc": 2, "port": "99999"}, "port must be a TCP port number from 1 to 65535.*'99999'"),
])
def test_impossible_launches_are_named_before_any_process_starts(launch, named):
    with pytest.raises(SettingError, match=named):
        run_recbole_denoise(model="GMF", dataset="ml-100k", config_dict=QUIET, **launch)


@pytest.mark.parametrize("batch_norm", [True, False])
def test_cpu_wrapping_warns_that_batch_norm_statistics_stay_per_process(batch_norm, tmp_path, caplog):
    layers = [torch.nn.Linear(3, 3)] + ([torch.nn.BatchNorm1d(3)] if batch_norm else [])
    config = {"device": torch.device("cpu"), "local_rank": 0, "offset": 0, "single_spec": False}
    torch.distributed.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        with caplog.at_level("WARNING"):
            distributed.wrap_model(config, torch.nn.Sequential(*layers))
    finally:
        torch.distributed.destroy_process_group()
    warned = [r.getMessage() for r in caplog.records if "BatchNorm" in r.getMessage()]
    assert warned == (["Sequential has BatchNorm layers: on the CPU their batch statistics are per process "
                       "(SyncBatchNorm needs GPUs), so its results differ from a single-process run"]
                      if batch_norm else [])
