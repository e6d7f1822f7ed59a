"""Figures of a run's output (recbole_denoise.plot) and the DenoiseTrainer's tensorboard scalars."""

import csv
import json
import math
import os

import numpy as np
import pytest
import torch

from conftest import write_multimodal_dataset, write_planted_dataset
from recbole_denoise import plot
from recbole_denoise.utils import load_checkpoint
from support import PLANTED, prepared

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path):
    assert os.path.getsize(path) > 1000
    with open(path, "rb") as handle:
        assert handle.read(8) == PNG_SIGNATURE


def same(values, expected):
    """Lists equal, ``None`` in ``expected`` standing for NaN in ``values``."""
    assert len(values) == len(expected)
    for value, wanted in zip(values, expected):
        if wanted is None:
            assert math.isnan(value)
        else:
            assert value == pytest.approx(wanted)


@pytest.fixture(scope="module")
def tce_run(tmp_path_factory):
    """GMF with T-CE on the planted dataset, 2 epochs; RecBole's tensorboard folder in a
    folder of its own (it is relative to the working directory)."""
    root = tmp_path_factory.mktemp("tce")
    write_planted_dataset(str(root / "data"))
    here = os.getcwd()
    os.chdir(root)
    try:
        _, (train, valid, _), trainer = prepared(
            "GMF", "planted", root / "saved", data_path=str(root / "data"), loss_type="TCE",
            drop_rate=0.2, num_gradual=5, epochs=2, **PLANTED)
        seen = []
        trainer.fit(train, valid, saved=True, callback_fn=lambda epoch, score: seen.append((epoch, score)))
        trainer.tensorboard.flush()
    finally:
        os.chdir(here)
    return {"trainer": trainer, "root": root, "valid_scores": seen, "best": trainer.saved_model_file,
            "resume": trainer.saved_model_file.replace(".pth", "-resume.pth"),
            "csv": trainer.saved_model_file.replace(".pth", "-denoising.csv")}


# ------------------------------------------------------------------ training


def test_training_series_are_the_checkpoints_losses_and_validations(tce_run):
    trainer = tce_run["trainer"]
    series = plot.training_series(load_checkpoint(tce_run["resume"]))
    assert series["epochs"] == [0, 1]
    same(series["loss"], [trainer.train_loss_dict[0], trainer.train_loss_dict[1]])
    assert series["loss_parts"] == []
    assert series["valid_epochs"] == [epoch for epoch, _ in tce_run["valid_scores"]]
    same(series["valid_score"], [score for _, score in tce_run["valid_scores"]])
    assert series["valid_metric"] == "recall@10"
    same(series["valid"]["recall@10"], series["valid_score"])
    assert set(series["valid"]) == {"recall@10", "ndcg@10"}
    assert series["title"] == "GMF planted (TCE)"


def test_a_best_model_file_is_read_through_its_resume_point(tce_run):
    assert plot.training_checkpoint(tce_run["best"]) == tce_run["resume"]
    assert plot.training_checkpoint(tce_run["resume"]) == tce_run["resume"]


def test_training_series_sum_a_multi_part_loss_by_hand():
    checkpoint = {"config": {"model": "M", "dataset": "d", "valid_metric": "NDCG@5"},
                  "train_loss": [[1, [1.0, 0.5]], [0, [2.0, 1.0]]],
                  "valid_history": [[1, 0.3, {"ndcg@5": 0.3}], [0, 0.2, {"ndcg@5": 0.2}]]}
    series = plot.training_series(checkpoint)
    assert series["epochs"] == [0, 1]
    assert series["loss"] == [3.0, 1.5]
    assert series["loss_parts"] == [[2.0, 1.0], [1.0, 0.5]]
    assert series["valid_epochs"] == [0, 1] and series["valid"] == {"ndcg@5": [0.2, 0.3]}
    assert series["valid_metric"] == "ndcg@5" and series["title"] == "M d"


def test_training_metrics_default_to_the_valid_metric():
    series = {"valid_metric": "recall@10", "valid": {"recall@10": [0.1], "ndcg@10": [0.2]}}
    assert plot.training_metrics(series) == ["recall@10"]
    assert plot.training_metrics(series, ["all"]) == ["recall@10", "ndcg@10"]
    assert plot.training_metrics(series, ["NDCG@10"]) == ["ndcg@10"]
    with pytest.raises(ValueError, match="no validation metric mrr@10; the run validated recall@10, ndcg@10"):
        plot.training_metrics(series, ["mrr@10"])


def test_valid_history_survives_a_resume(tce_run, tmp_path):
    _, _, fresh = prepared("GMF", "planted", tmp_path / "saved", data_path=str(tce_run["root"] / "data"),
                           loss_type="TCE", epochs=2, **PLANTED)
    fresh.resume_checkpoint(tce_run["resume"])
    assert fresh.valid_history == load_checkpoint(tce_run["resume"])["valid_history"]
    assert [entry[0] for entry in fresh.valid_history] == [0, 1]


# ------------------------------------------------------------------ denoising


def test_denoising_series_are_the_diagnostics_of_each_epoch(tce_run):
    history = tce_run["trainer"].diagnostics.history
    series = plot.denoising_series(tce_run["csv"])
    assert series["epoch"] == [0, 1]
    for column in ("drop_precision", "drop_recall", "random_precision", "random_recall", "ce_clean", "ce_noisy",
                   "dropped"):
        same(series[column], [row[column] for row in history])
    assert plot.denoising_csv(tce_run["best"]) == tce_run["csv"]
    assert plot.denoising_csv(tce_run["resume"]) == tce_run["csv"]


def test_denoising_series_by_hand(tmp_path):
    path = tmp_path / "run-denoising.csv"
    path.write_text("epoch,drop_rate,drop_precision,drop_recall,random_precision,random_recall,ce_clean,ce_noisy\n"
                    "0,0.0,,0.0,0.2,0.0,0.7,0.9\n"
                    "1,0.1,0.5,0.25,0.2,0.1,0.6,1.1\n")
    series = plot.denoising_series(str(path))
    assert series["epoch"] == [0, 1]
    same(series["drop_precision"], [None, 0.5])
    same(series["ce_noisy"], [0.9, 1.1])
    assert_png(plot.plot_denoising(series, str(tmp_path / "out.png")))


# ------------------------------------------------------------------ tensorboard


def test_the_diagnostics_go_to_recboles_tensorboard(tce_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tce_run["root"] / tce_run["trainer"].tensorboard.log_dir))
    events.Reload()
    tags = events.Tags()["scalars"]
    assert "Loss/Train" in tags and "Vaild_score" in tags  # RecBole's own scalars still there
    history = tce_run["trainer"].diagnostics.history
    for column in ("drop_precision", "random_precision", "drop_recall", "random_recall", "ce_clean", "ce_noisy",
                   "drop_rate"):
        scalars = events.Scalars(f"Denoising/{column}")
        assert [s.step for s in scalars] == [0, 1]
        assert [s.value for s in scalars] == pytest.approx([row[column] for row in history], rel=1e-6)


def test_undefined_diagnostics_are_not_written_to_tensorboard():
    class FakeWriter:
        def __init__(self):
            self.calls = []

        def add_scalar(self, tag, value, step):
            self.calls.append((tag, value, step))

    from recbole_denoise.trainer import DenoiseTrainer

    trainer = DenoiseTrainer.__new__(DenoiseTrainer)
    trainer.tensorboard = FakeWriter()
    row = {"epoch": 3, "positives": 10, "drop_rate": 0.0, "drop_precision": None, "random_precision": 0.2,
           "drop_recall": 0.0, "random_recall": 0.0, "ce_clean": 0.5, "ce_noisy": None}
    trainer._add_diagnostics_to_tensorboard(row)
    assert trainer.tensorboard.calls == [("Denoising/drop_rate", 0.0, 3), ("Denoising/random_precision", 0.2, 3),
                                         ("Denoising/drop_recall", 0.0, 3), ("Denoising/random_recall", 0.0, 3),
                                         ("Denoising/ce_clean", 0.5, 3)]
    trainer.tensorboard.calls.clear()
    trainer._add_diagnostics_to_tensorboard(dict(row, positives=0))  # no clean flags: nothing to report
    assert trainer.tensorboard.calls == []


# ------------------------------------------------------------------ GRCN edges


def test_relative_edge_weights_and_their_histograms_by_hand():
    weights = {"user": torch.tensor([0, 0, 1]), "item": torch.tensor([0, 1, 1]),
               "item_to_user": torch.tensor([1.0, 3.0, 2.0]), "user_to_item": torch.tensor([4.0, 1.0, 3.0])}
    relative = plot.relative_edge_weights(weights)
    # item_to_user: user 0's edges have mean 2, user 1's 2; user_to_item: item 0 mean 4, item 1 mean 2
    assert relative["item_to_user"].tolist() == pytest.approx([0.5, 1.5, 1.0])
    assert relative["user_to_item"].tolist() == pytest.approx([1.0, 0.5, 1.5])
    summary = plot.grcn_edge_summary(relative, [False, True, False], bins=4)
    part = summary["item_to_user"]
    assert len(part["bins"]) == 5 and part["n_injected"] == 1 and part["n_original"] == 2
    assert sum(part["injected"]) == 1 and sum(part["original"]) == 2
    assert part["mean_injected"] == pytest.approx(1.5) and part["mean_original"] == pytest.approx(0.75)
    assert part["injected"][-1] == 1 and part["original"][0] == 1  # 1.5 is the largest, 0.5 the smallest


def test_grcn_edges_from_a_checkpoint_are_the_trained_models(tmp_path):
    write_multimodal_dataset(str(tmp_path / "data"))
    model, (train, valid, test), trainer = prepared(
        "GRCN", "mm", tmp_path / "saved", data_path=str(tmp_path / "data"), epochs=1, train_noise_ratio=0.2,
        eval_args={"split": {"RS": [0.8, 0.1, 0.1]}, "group_by": "user", "order": "RO", "mode": "full"})
    trainer.fit(train, valid, saved=True)
    trainer.evaluate(test, load_best_model=True)
    with torch.no_grad():
        weights = model.edge_weights()
    inter = train._dataset.inter_feat
    noisy = {(u, i) for u, i, c in zip(inter["user_id"].tolist(), inter["item_id"].tolist(),
                                       inter["clean"].tolist()) if c == 0}
    injected = [(u, i) in noisy for u, i in zip(weights["user"].tolist(), weights["item"].tolist())]
    expected = plot.grcn_edge_summary(plot.relative_edge_weights(weights), injected)
    assert sum(injected) > 0

    out = tmp_path / "figures"
    assert plot.main(["grcn-edges", trainer.saved_model_file, "--out", str(out), "--name", "g"]) == 0
    written = json.loads((out / "g-grcn-edges.json").read_text())
    for key in ("item_to_user", "user_to_item"):
        assert written[key]["injected"] == expected[key]["injected"]
        assert written[key]["original"] == expected[key]["original"]
        assert written[key]["mean_injected"] == pytest.approx(expected[key]["mean_injected"], rel=1e-5)
        assert written[key]["bins"] == pytest.approx(expected[key]["bins"], rel=1e-5)
    assert_png(out / "g-grcn-edges.png")
    # the json alone makes the same figure
    assert plot.main(["grcn-edges", str(out / "g-grcn-edges.json"), "--out", str(tmp_path / "again")]) == 0
    assert_png(tmp_path / "again" / "g-grcn-edges.png")


# ------------------------------------------------------------------ FRAME clips


def test_frame_clip_profile_by_hand():
    scores = np.array([[1.0, 2.0, 3.0], [3.0, 4.0, 5.0], [0.0, -1.0, -2.0]])
    profile = plot.frame_clip_profile(scores, [1, 1, 0])
    assert profile["positions"] == [1, 2, 3]
    assert profile["full"] == [2.0, 3.0, 4.0] and profile["skip"] == [0.0, -1.0, -2.0]
    assert profile["n_full"] == 2 and profile["n_skip"] == 1


def test_frame_clips_from_a_checkpoint(tmp_path):
    model, (train, valid, test), trainer = prepared("FRAME", "microvideo-sim", tmp_path / "saved", epochs=1)
    trainer.fit(train, valid, saved=True)
    trainer.evaluate(valid, load_best_model=True)
    inter = test.dataset.inter_feat
    with torch.no_grad():
        scores, _ = model.clip_scores(inter["user_id"], inter["item_id"])
    expected = plot.frame_clip_profile(scores.numpy(), inter["full_watch"].numpy())
    out = tmp_path / "figures"
    assert plot.main(["frame-clips", trainer.saved_model_file, "--out", str(out), "--name", "f"]) == 0
    written = json.loads((out / "f-frame-clips.json").read_text())
    assert written["full"] == pytest.approx(expected["full"], rel=1e-5)
    assert written["skip"] == pytest.approx(expected["skip"], rel=1e-5)
    assert (written["n_full"], written["n_skip"]) == (expected["n_full"], expected["n_skip"])
    assert_png(out / "f-frame-clips.png")


# ------------------------------------------------------------------ group


def write_group_csv(path):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["model", "dataset", "metric", "mean", "std", "runs"])
        writer.writerows([["GMF", "ml-100k", "recall@20", 0.088, 0.002, 3],
                          ["GMF T-CE", "ml-100k", "recall@20", 0.087, 0.003, 3],
                          ["GMF", "ml-100k", "ndcg@20", 0.10, "", 1],
                          ["GMF", "modcloth", "recall@20", 0.26, 0.01, 3]])


def test_group_rows_and_panels(tmp_path):
    write_group_csv(tmp_path / "group.csv")
    rows = plot.group_rows(str(tmp_path / "group.csv"))
    assert rows[0] == {"model": "GMF", "dataset": "ml-100k", "metric": "recall@20", "mean": 0.088, "std": 0.002}
    assert rows[2]["std"] == 0.0
    assert plot.group_panels(rows) == [
        (("ml-100k", "recall@20"), [("GMF", 0.088, 0.002), ("GMF T-CE", 0.087, 0.003)]),
        (("ml-100k", "ndcg@20"), [("GMF", 0.10, 0.0)]),
        (("modcloth", "recall@20"), [("GMF", 0.26, 0.01)]),
    ]


def test_a_label_column_names_the_bars_and_rows_without_a_mean_are_left_out(tmp_path):
    (tmp_path / "report.csv").write_text("dataset,label,model,variant,metric,n,mean,std,p_value\n"
                                         "ml-100k,GMF CE,GMF,,recall@20,3,0.088,0.002,\n"
                                         "ml-100k,GMF T-CE,GMF,loss_type=TCE,recall@20,3,0.087,0.003,0.4\n"
                                         "ml-100k,GMF R-CE,GMF,loss_type=RCE,recall@20,0,,,\n")
    rows = plot.group_rows(str(tmp_path / "report.csv"))
    assert [(row["model"], row["mean"], row["std"]) for row in rows] == [("GMF CE", 0.088, 0.002),
                                                                         ("GMF T-CE", 0.087, 0.003)]


def test_a_group_csv_without_a_column_is_an_error_naming_it(tmp_path):
    (tmp_path / "bad.csv").write_text("model,dataset,metric,mean\nGMF,d,m,0.1\n")
    with pytest.raises(ValueError, match="missing std"):
        plot.group_rows(str(tmp_path / "bad.csv"))


# ------------------------------------------------------------------ command line


def test_each_subcommand_writes_a_png(tce_run, tmp_path, capsys):
    out = tmp_path / "figures"
    write_group_csv(tmp_path / "group.csv")
    (tmp_path / "clips.json").write_text(json.dumps(plot.frame_clip_profile(np.ones((2, 4)), [1, 0])))
    weights = {"user": torch.tensor([0, 0, 1]), "item": torch.tensor([0, 1, 1]),
               "item_to_user": torch.tensor([1.0, 3.0, 2.0]), "user_to_item": torch.tensor([4.0, 1.0, 3.0])}
    (tmp_path / "edges.json").write_text(json.dumps(
        plot.grcn_edge_summary(plot.relative_edge_weights(weights), [False, True, False])))
    for kind, source in (("training", tce_run["resume"]), ("denoising", tce_run["csv"]),
                         ("group", tmp_path / "group.csv"), ("frame-clips", tmp_path / "clips.json"),
                         ("grcn-edges", tmp_path / "edges.json")):
        assert plot.main([kind, str(source), "--out", str(out), "--name", "x"]) == 0
        assert_png(out / f"x-{kind}.png")
    assert str(out / "x-group.png") in capsys.readouterr().out


def test_a_run_output_alone_makes_every_figure_it_supports(tce_run, tmp_path):
    out = tmp_path / "figures"
    assert plot.main([tce_run["best"], "--out", str(out)]) == 0
    stem = plot.run_stem(tce_run["best"])
    assert sorted(os.listdir(out)) == [f"{stem}-denoising.png", f"{stem}-training.png"]


def test_a_missing_input_is_an_error(tmp_path, capsys):
    assert plot.main(["training", str(tmp_path / "none.pth"), "--out", str(tmp_path)]) == 1
    assert "no such file" in capsys.readouterr().err


def test_a_checkpoint_of_another_model_is_an_error_naming_both(tce_run, tmp_path, capsys):
    assert plot.main(["grcn-edges", tce_run["best"], "--out", str(tmp_path)]) == 1
    assert "is a checkpoint of GMF, not of GRCN" in capsys.readouterr().err
