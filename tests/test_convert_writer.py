"""The shared atomic writer of recbole_denoise.data.convert: layout, atomicity, errors, CLI registry."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recbole_denoise.data import convert as convert_pkg
from recbole_denoise.data.convert import writer
from recbole_denoise.data.convert.writer import (
    AtomicTable,
    ConversionError,
    ConversionSummary,
    write_atomic_dataset,
)

REPO = Path(__file__).resolve().parents[1]
INTER_TYPES = {"user_id": "token", "item_id": "token", "clean": "float"}


def small_tables():
    inter = pd.DataFrame({"user_id": ["u1", "u1", "u2"], "item_id": ["i1", "i2", "i1"], "clean": [1.0, 0.0, 1.0]})
    items = pd.DataFrame({
        "item_id": ["i1", "i2"],
        "genres": [["drama", "war"], []],
        "vector": [[0.5, 1.25], [2.0, -1.0]],
        "price": [9.99, np.nan],
    })
    return [
        AtomicTable("inter", inter, INTER_TYPES),
        AtomicTable("item", items, {"item_id": "token", "genres": "token_seq", "vector": "float_seq",
                                    "price": "float"}),
    ]


def summary_for(rows_read=3, dropped=None):
    summary = ConversionSummary(source="unit", dataset="toy", rows_read=rows_read)
    for reason, count in (dropped or {}).items():
        summary.drop(reason, count)
    return summary


def leftovers(parent: Path):
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


def tree_snapshot(folder: Path):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_writes_recbole_atomic_files_yaml_and_summary(tmp_path):
    out = tmp_path / "toy"
    summary = summary_for(rows_read=4, dropped={"bad row": 1})
    write_atomic_dataset(out, small_tables(), summary, dataset_config={"topk": [3]})

    assert sorted(p.name for p in out.iterdir()) == ["conversion.json", "toy.inter", "toy.item", "toy.yaml"]
    lines = (out / "toy.inter").read_text().splitlines()
    assert lines[0] == "user_id:token\titem_id:token\tclean:float"
    assert lines[1:] == ["u1\ti1\t1", "u1\ti2\t0", "u2\ti1\t1"]
    item_lines = (out / "toy.item").read_text().splitlines()
    assert item_lines[0] == "item_id:token\tgenres:token_seq\tvector:float_seq\tprice:float"
    assert item_lines[1] == "i1\tdrama war\t0.5 1.25\t9.99"
    assert item_lines[2] == "i2\t\t2 -1\t"  # empty sequence and missing float are empty cells

    import yaml

    config = yaml.safe_load((out / "toy.yaml").read_text())
    assert config["load_col"] == {"inter": ["user_id", "item_id", "clean"],
                                  "item": ["item_id", "genres", "vector", "price"]}
    assert config["clean_field"] == "clean" and config["topk"] == [3]
    assert "benchmark_filename" not in config

    report = json.loads((out / "conversion.json").read_text())
    assert report["rows_read"] == 4 and report["rows_kept"] == 3 and report["dropped"] == {"bad row": 1}
    assert report["stats"]["users"] == 2 and report["stats"]["false positives"] == 1
    assert summary.files["toy.inter"] == 3
    assert leftovers(tmp_path) == []


def test_pre_split_tables_set_benchmark_filename(tmp_path):
    frame = pd.DataFrame({"user_id": ["a"], "item_id": ["b"], "clean": [1.0]})
    tables = [AtomicTable(f"{part}.inter", frame, INTER_TYPES) for part in ("train", "valid", "test")]
    write_atomic_dataset(tmp_path / "toy", tables, summary_for(rows_read=3))
    import yaml

    config = yaml.safe_load((tmp_path / "toy" / "toy.yaml").read_text())
    assert config["benchmark_filename"] == ["train", "valid", "test"]
    assert (tmp_path / "toy" / "toy.valid.inter").is_file()


def test_refuses_existing_output_without_overwrite(tmp_path):
    out = tmp_path / "toy"
    write_atomic_dataset(out, small_tables(), summary_for())
    before = tree_snapshot(out)
    with pytest.raises(ConversionError, match="overwrite"):
        write_atomic_dataset(out, small_tables(), summary_for())
    assert tree_snapshot(out) == before


def test_an_empty_existing_folder_needs_no_overwrite(tmp_path):
    (tmp_path / "toy").mkdir()
    write_atomic_dataset(tmp_path / "toy", small_tables(), summary_for())
    assert (tmp_path / "toy" / "toy.inter").is_file() and leftovers(tmp_path) == []


def test_raw_input_inside_the_output_is_refused(tmp_path):
    out = tmp_path / "toy"
    write_atomic_dataset(out, small_tables(), summary_for())
    raw = out / "raw.json"
    raw.write_text("{}")
    with pytest.raises(ConversionError, match="raw input lies inside the output"):
        writer.start_conversion("unit", raw, out, overwrite=True)
    assert raw.is_file()


def test_overwrite_replaces_an_earlier_output(tmp_path):
    out = tmp_path / "toy"
    write_atomic_dataset(out, small_tables(), summary_for())
    (out / "stale.txt").write_text("from an older run")
    tables = small_tables()[:1]
    write_atomic_dataset(out, tables, summary_for(), overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == ["conversion.json", "toy.inter", "toy.yaml"]
    assert leftovers(tmp_path) == []


def test_overwrite_refuses_a_folder_that_is_not_a_converter_output(tmp_path):
    out = tmp_path / "toy"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    with pytest.raises(ConversionError, match="not a converter output"):
        write_atomic_dataset(out, small_tables(), summary_for(), overwrite=True)
    assert (out / "precious.txt").read_text() == "keep me"


def test_failure_while_writing_leaves_nothing_behind(tmp_path, monkeypatch):
    real_write = writer._write_table
    calls = []

    def fail_on_second_table(path, table):
        calls.append(path.name)
        if len(calls) == 2:
            raise OSError("disk full")
        return real_write(path, table)

    monkeypatch.setattr(writer, "_write_table", fail_on_second_table)
    with pytest.raises(ConversionError, match=r"cannot write the output \(disk full\)"):  # a message, not a traceback
        write_atomic_dataset(tmp_path / "toy", small_tables(), summary_for())
    assert list(tmp_path.iterdir()) == []


def test_failure_while_overwriting_keeps_the_old_output(tmp_path, monkeypatch):
    out = tmp_path / "toy"
    write_atomic_dataset(out, small_tables(), summary_for())
    before = tree_snapshot(out)
    monkeypatch.setattr(writer, "_write_table", lambda path, table: (_ for _ in ()).throw(OSError("boom")))
    with pytest.raises(ConversionError, match="cannot write the output .boom"):
        write_atomic_dataset(out, small_tables(), summary_for(), overwrite=True)
    assert tree_snapshot(out) == before
    assert leftovers(tmp_path) == []


def test_failed_swap_restores_the_old_output(tmp_path, monkeypatch):
    out = tmp_path / "toy"
    write_atomic_dataset(out, small_tables(), summary_for())
    before = tree_snapshot(out)
    real_rename = os.rename

    def rename(src, dst):
        if ".partial-" in str(src):  # the new dataset moving into place
            raise OSError("rename failed")
        return real_rename(src, dst)

    monkeypatch.setattr(writer.os, "rename", rename)
    with pytest.raises(ConversionError, match="cannot write the output .rename failed"):
        write_atomic_dataset(out, small_tables()[:1], summary_for(), overwrite=True)
    assert tree_snapshot(out) == before
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("bad_value", ["has\ttab", "two\nlines", '"quoted'])
def test_refuses_values_that_break_the_atomic_format(tmp_path, bad_value):
    frame = pd.DataFrame({"user_id": ["ok", bad_value], "item_id": ["i", "j"], "clean": [1.0, 1.0]})
    with pytest.raises(ConversionError) as caught:
        write_atomic_dataset(tmp_path / "toy", [AtomicTable("inter", frame, INTER_TYPES)], summary_for(rows_read=2))
    assert "toy.inter" in str(caught.value) and "user_id" in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_empty_result_is_an_error_naming_the_drop_reasons(tmp_path):
    frame = pd.DataFrame({"user_id": [], "item_id": [], "clean": []})
    summary = summary_for(rows_read=5, dropped={"no article id": 5})
    with pytest.raises(ConversionError, match="no rows left.*no article id: 5"):
        write_atomic_dataset(tmp_path / "toy", [AtomicTable("inter", frame, INTER_TYPES)], summary)
    assert list(tmp_path.iterdir()) == []


def test_output_folder_must_be_named_after_the_dataset(tmp_path):
    with pytest.raises(ConversionError, match="must be named after the dataset 'other'"):
        write_atomic_dataset(tmp_path / "toy", small_tables(), summary_for(), name="other")


def test_bookkeeping_must_add_up(tmp_path):
    with pytest.raises(RuntimeError, match="bookkeeping"):
        write_atomic_dataset(tmp_path / "toy", small_tables(), summary_for(rows_read=7))


def test_error_message_names_file_line_field_expected_and_found():
    error = ConversionError("not a number", file="data/x.json", line=12, field="stars",
                            expected="a number from 1 to 5", found="five")
    assert str(error) == ("data/x.json, line 12, field 'stars': not a number; "
                          "expected a number from 1 to 5, found 'five'")
    assert isinstance(error, ValueError) and error.line == 12 and error.field == "stars"


def test_summary_block_lists_drop_reasons_and_stats():
    summary = summary_for(rows_read=10, dropped={"no article id": 3})
    summary.rows_kept = 7
    summary.stats = {"users": 1234, "false positive share": 0.25}
    text = summary.format()
    assert "rows read: 10, kept: 7, dropped: 3" in text
    assert "- no article id: 3" in text and "1,234" in text


def test_every_registered_source_exposes_the_converter_interface():
    for name in convert_pkg.SOURCES:
        module = convert_pkg.load_source(name)
        for attribute in ("SOURCE", "DESCRIPTION", "add_arguments", "run", "convert"):
            assert hasattr(module, attribute), f"{name} lacks {attribute}"
        assert module.SOURCE == name
    with pytest.raises(KeyError, match="unknown source"):
        convert_pkg.load_source("no-such-source")


def test_cli_rejects_an_unknown_source():
    result = subprocess.run(
        [sys.executable, "-m", "recbole_denoise.data.convert", "no-such-source", "--raw", "x", "--out", "y"],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
    )
    assert result.returncode == 2 and "invalid choice" in result.stderr
