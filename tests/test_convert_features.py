"""Extra files staged by the writer, and the multimodal feature convention (convert.features)."""

import numpy as np
import pandas as pd
import pytest

from recbole_denoise.data.convert import features, writer
from recbole_denoise.data.convert.features import DenseModality, WordModality, load_npy, modality_files
from recbole_denoise.data.convert.writer import (
    AtomicTable,
    ConversionError,
    ConversionSummary,
    ExtraFile,
    lines_file,
    npy_file,
    write_atomic_dataset,
)

INTER = pd.DataFrame({"user_id": ["u1", "u2"], "item_id": ["i1", "i2"]})
TYPES = {"user_id": "token", "item_id": "token"}
MATRIX = np.array([[0.5, 1.0], [2.0, -3.0], [4.0, 0.25]], dtype=np.float32)


def write(out, extra_files, **kwargs):
    summary = ConversionSummary(source="unit", dataset=out.name, rows_read=2)
    write_atomic_dataset(out, [AtomicTable("inter", INTER, TYPES)], summary, extra_files=extra_files, **kwargs)
    return summary


def test_modality_files_follow_the_convention_and_are_staged_with_the_dataset(tmp_path):
    dense = DenseModality("visual", ["i2", "i1", "i9"], MATRIX)  # i9 has no interaction: still written
    words = WordModality("textual", ["i1", "i2"], np.array([[0, 3], [0, 3], [1, 0]]), n_words=4)
    files, entries = modality_files("toy", [dense, words])
    assert entries == {"visual": {"file": "toy.visual.npy", "tokens": "toy.visual.tokens"},
                       "textual": {"words": "toy.textual_words.npy", "tokens": "toy.textual.tokens", "n_words": 4}}
    out = tmp_path / "toy"
    summary = write(out, files, dataset_config={"item_modalities": entries})

    assert (out / "toy.visual.tokens").read_text() == "i2\ni1\ni9\n"
    loaded = np.load(out / "toy.visual.npy", allow_pickle=False)
    assert loaded.dtype == np.float32 and loaded.tolist() == MATRIX.tolist()
    pairs = np.load(out / "toy.textual_words.npy", allow_pickle=False)
    assert pairs.dtype == np.int64 and pairs.tolist() == [[0, 3], [0, 3], [1, 0]]
    assert summary.files["toy.visual.npy"] == 3 and summary.files["toy.textual.tokens"] == 2


def test_a_failing_extra_file_leaves_no_output_and_keeps_an_earlier_one(tmp_path):
    def broken(path):
        path.write_bytes(b"partial")
        raise OSError("disk full")

    out = tmp_path / "toy"
    with pytest.raises(writer.ConversionError, match="cannot write the output .disk full"):
        write(out, [ExtraFile("toy.visual.npy", broken)])
    assert list(tmp_path.iterdir()) == []

    write(out, [lines_file("toy.visual.tokens", ["i1"])])
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(writer.ConversionError, match="cannot write the output .disk full"):
        write(out, [ExtraFile("toy.visual.npy", broken)], overwrite=True)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["toy"]


@pytest.mark.parametrize("file_name", ["toy.inter", "toy.yaml", "conversion.json"])
def test_extra_files_may_not_replace_dataset_files(tmp_path, file_name):
    with pytest.raises(ValueError, match="clash"):
        write(tmp_path / "toy", [lines_file(file_name, ["x"])])


def test_extra_file_helpers_refuse_what_they_cannot_write_safely():
    with pytest.raises(ValueError, match="plain file name"):
        lines_file("../escape.tokens", ["x"])
    with pytest.raises(ValueError, match="pickle"):
        npy_file("toy.bad.npy", np.array([[1], "a"], dtype=object))
    with pytest.raises(ConversionError, match="line 2.*line break"):
        lines_file("toy.tokens", ["i1", "i2\ni3"])


def test_modality_checks(tmp_path):
    with pytest.raises(ConversionError, match="two feature rows for the same item.*'i1'"):
        modality_files("toy", [DenseModality("visual", ["i1", "i2", "i1"], MATRIX)])
    with pytest.raises(ConversionError, match="bad item token"):
        modality_files("toy", [DenseModality("visual", ["i1", "i 2", "i3"], MATRIX)])
    with pytest.raises(ConversionError, match="word id outside the vocabulary.*found 4"):
        modality_files("toy", [WordModality("textual", ["i1"], np.array([[0, 4]]), n_words=4)])


def test_load_npy_needs_trust_for_object_arrays(tmp_path):
    rows = np.empty(2, dtype=object)
    rows[0], rows[1] = [0, 5], [1, 6, 7]
    np.save(tmp_path / "val_full.npy", rows, allow_pickle=True)
    with pytest.raises(ConversionError, match=r"val_full\.npy.*--trust-pickle"):
        load_npy(tmp_path / "val_full.npy")
    assert [list(r) for r in load_npy(tmp_path / "val_full.npy", trust_pickle=True)] == [[0, 5], [1, 6, 7]]
    (tmp_path / "junk.npy").write_bytes(b"not an array")
    with pytest.raises(ConversionError, match="not a readable NumPy .npy file"):
        load_npy(tmp_path / "junk.npy")
    assert features.TRUST_PICKLE_FLAG == "--trust-pickle" and writer.ExtraFile is ExtraFile
