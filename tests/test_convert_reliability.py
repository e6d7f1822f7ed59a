"""Bad raw inputs on every converter, stale staging folders and unwritable outputs.

The spoiled inputs are the cases of :mod:`recbole_denoise.data.convert.reliability`
(which also writes docs/reliability.md): every converter's real-format fixture with one
file given an extra field on its first row, a truncated last line, or random bytes.
"""

import json
import os
import subprocess
import sys

from pathlib import Path

import pytest

from recbole_denoise.data.convert import reader, reliability, staging, watch_csv
from recbole_denoise.data.convert.__main__ import main
from recbole_denoise.data.convert.writer import ConversionError

FIXTURES = Path(__file__).parent / "fixtures"
WATCH = FIXTURES / "watch_csv" / "interactions.csv"
CASES = [(target, spoiling) for target in reliability.TARGETS for spoiling in reliability.SPOILINGS]


@pytest.mark.parametrize("target, spoiling", CASES,
                         ids=[f"{t.source}:{t.file}:{s}" for t, s in CASES])
def test_every_reader_stops_on_a_spoiled_file_naming_file_and_line(tmp_path, target, spoiling):
    outcome = reliability.run_case(target, spoiling, tmp_path, FIXTURES)
    if spoiling in target.accepts:
        assert outcome.error is None
        return
    assert outcome.error is not None, f"{target.label} converted a file with a {spoiling}"
    assert Path(target.file).name in outcome.error
    if target.kind != "npy":
        assert "line " in outcome.error
    assert outcome.leftovers == []  # nothing at --out, no hidden folder beside it


def test_extra_field_on_the_first_row_is_not_read_as_shifted_columns(tmp_path):
    raw = tmp_path / "interactions.csv"
    raw.write_text("user_id,item_id,playing_time_ms,duration_ms\n0,0,863,30066,999\n0,1,1190,132433\n")
    code = main(["watch-csv", "--raw", str(raw), "--out", str(tmp_path / "out" / "w"), "--quiet"])
    assert code == 1 and not (tmp_path / "out").exists()


def test_not_text_names_the_line_and_byte_offset(tmp_path):
    raw = tmp_path / "interactions.csv"
    raw.write_bytes(WATCH.read_bytes() + b"1,2,\xff\xfe,100\n")
    lines = WATCH.read_text().count("\n")
    with pytest.raises(ConversionError, match=rf"line {lines + 1}: cannot decode the file \(first bad byte at offset "
                                              rf"{len(WATCH.read_bytes()) + 4}\); expected UTF-8 text"):
        watch_csv.convert(raw, tmp_path / "out" / "w", quiet=True)


def test_quoted_fields_and_line_breaks_in_quotes_keep_line_numbers(tmp_path, monkeypatch):
    monkeypatch.setattr(reader, "BLOCK_BYTES", 16)  # many blocks, some ending inside quotes
    raw = tmp_path / "t.csv"
    raw.write_text('a,b\n1,"x,\ny"\n\n2,"z"\n')
    rows = [row for chunk, lines in reader.read_delimited(raw, ["a", "b"], sep=",", quoted=True, skip_lines=1)
            for row in zip(lines, chunk["a"], chunk["b"])]
    assert rows == [(2, "1", "x,\ny"), (5, "2", "z")]
    raw.write_text('a,b\n1,"x,\ny"\n\n2,"z"\n3,w,extra\n')
    with pytest.raises(ConversionError, match=r"line 6, field 'columns'.*expected 2 comma-separated columns"):
        list(reader.read_delimited(raw, ["a", "b"], sep=",", quoted=True, skip_lines=1))


# --------------------------------------------------------------------------- staging folders


def stale_partial(parent: Path, name: str, pid: int) -> Path:
    folder = parent / f".{name}.partial-abc123"
    folder.mkdir(parents=True)
    (folder / f"{name}.inter").write_text("user_id:token\n1\n")
    marker = {"pid": pid, "host": staging.socket.gethostname(), "started": "2026-01-01T00:00:00"}
    (folder / staging.MARKER).write_text(json.dumps(marker))
    return folder


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_stale_partial_folder_of_a_killed_conversion_is_removed(tmp_path, capsys):
    stale = stale_partial(tmp_path / "out", "w", dead_pid())
    watch_csv.convert(WATCH, tmp_path / "out" / "w", quiet=False)
    assert not stale.exists()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["w"]
    assert f"removed {stale}" in capsys.readouterr().err


def test_partial_folders_of_running_or_unknown_writers_are_reported_not_removed(tmp_path, capsys):
    running = stale_partial(tmp_path / "out", "w", os.getpid())
    unknown = tmp_path / "out" / ".w.partial-zzz"
    unknown.mkdir()
    watch_csv.convert(WATCH, tmp_path / "out" / "w", quiet=True)
    err = capsys.readouterr().err
    assert running.exists() and unknown.exists()
    assert f"warning: {running}" in err and "running process" in err
    assert f"warning: {unknown}" in err and "without a readable marker" in err


def test_the_writer_marks_its_staging_folder_and_the_output_has_no_marker(tmp_path, monkeypatch):
    seen = []
    real_unmark = staging.unmark

    def spy(staged):
        seen.append(json.loads((staged / staging.MARKER).read_text())["pid"])
        real_unmark(staged)

    monkeypatch.setattr("recbole_denoise.data.convert.writer.unmark", spy)
    watch_csv.convert(WATCH, tmp_path / "out" / "w", quiet=True)
    assert seen == [os.getpid()]
    assert not (tmp_path / "out" / "w" / staging.MARKER).exists()


# --------------------------------------------------------------------------- unwritable output


@pytest.mark.parametrize("where", ["under a file", "under /proc"])
def test_an_unwritable_out_is_a_message_before_reading(tmp_path, capsys, where):
    if where == "under a file":
        (tmp_path / "file").write_text("x")
        out = tmp_path / "file" / "sub" / "w"
    else:
        out = Path("/proc/recbole-denoise-nowhere/w")
    code = main(["watch-csv", "--raw", str(WATCH), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error: ") and "cannot create the output folder" in err
    assert "Traceback" not in err


# --------------------------------------------------------------------------- progress


def test_large_files_show_a_progress_bar_on_stderr_unless_quiet(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(reader, "PROGRESS_MIN_BYTES", 1)  # the fixture counts as large
    watch_csv.convert(WATCH, tmp_path / "loud" / "w")
    captured = capsys.readouterr()
    assert "reading interactions.csv" in captured.err and "reading" not in captured.out
    watch_csv.convert(WATCH, tmp_path / "quiet" / "w", quiet=True)
    assert "reading" not in capsys.readouterr().err
