"""The hidden folders beside an output: where a dataset is staged, and what a killed conversion leaves.

The writer stages a dataset in ``<parent>/.<name>.partial-XXXX`` and renames it to
``<parent>/<name>`` when every file is written. A conversion killed with ``kill -9``
(or a power cut) cannot clean up, so the staging folder stays, tens of megabytes or
more. To recognise its own leftovers, the writer puts a marker file in every staging
folder, naming the host and the process that made it; a later conversion to the same
output removes a staging folder whose marker names a process of this host that no longer
runs, and only warns (with the path) about any other: one of a running conversion, one
made on another host sharing the disk, or a folder without a marker (not ours).

An earlier output set aside during the final swap (``.<name>.old-XXXX``) is never
removed automatically: after a kill at the wrong instant it is the only copy of the
previous dataset. It is reported with its path.
"""

import json
import os
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Optional

from .errors import ConversionError

MARKER = ".recbole-denoise-partial"  # a JSON file: {"pid", "host", "started"}


def partial_prefix(out_dir: Path) -> str:
    return f".{out_dir.name}.partial-"


def aside_prefix(out_dir: Path) -> str:
    return f".{out_dir.name}.old-"


def make_staging_folder(out_dir: Path) -> Path:
    """A new staging folder beside ``out_dir`` (same file system, so the final rename is
    atomic), marked as made by this process."""
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        staged = Path(tempfile.mkdtemp(prefix=partial_prefix(out_dir), dir=out_dir.parent))
    except OSError as error:
        raise ConversionError(f"cannot create the output folder ({error.strerror or error})",
                              file=out_dir, expected="a folder you can write in") from None
    os.chmod(staged, 0o755)  # mkdtemp makes it private; a dataset folder is not
    marker = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
    (staged / MARKER).write_text(json.dumps(marker) + "\n", encoding="utf-8")
    return staged


def unmark(staged: Path) -> None:
    """Remove the marker just before the staging folder becomes the output."""
    (staged / MARKER).unlink(missing_ok=True)


def check_output_writable(out_dir: Path) -> None:
    """Fail before any reading when the output folder could not be created.

    Probes the nearest existing folder above ``out_dir`` by making and removing an empty
    folder in it (permission bits alone do not tell: root, read-only mounts, /proc)."""
    ancestor = Path(os.path.abspath(out_dir)).parent
    while not os.path.lexists(ancestor):
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ConversionError("cannot create the output folder: a path above it is a file", file=out_dir,
                              expected="a folder path", found=str(ancestor))
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".recbole-denoise-probe-", dir=ancestor))
    except OSError as error:
        raise ConversionError(f"cannot create the output folder ({error.strerror or error})", file=out_dir,
                              expected=f"a folder you can write in ({ancestor})") from None


def clear_stale_folders(out_dir: Path, *, quiet: bool = False) -> List[Path]:
    """Remove the staging folders of conversions to ``out_dir`` that died; warn about the
    other leftovers beside it. Returns the folders left in place."""
    parent = Path(out_dir).parent
    if not parent.is_dir():
        return []
    left = []
    for folder in sorted(parent.glob(partial_prefix(out_dir) + "*")):
        reason = _why_not_stale(folder)
        if reason is None:
            shutil.rmtree(folder, ignore_errors=True)
            if not quiet:
                print(f"note: removed {folder}, left by an interrupted conversion", file=sys.stderr)
        else:
            left.append(folder)
            print(f"warning: {folder} is a staging folder {reason}; left in place (remove it yourself "
                  "if no conversion is writing it)", file=sys.stderr)
    for folder in sorted(parent.glob(aside_prefix(out_dir) + "*")):
        left.append(folder)
        print(f"warning: {folder} holds an earlier output set aside by an interrupted conversion; "
              f"left in place (move it back to {out_dir} or remove it)", file=sys.stderr)
    return left


def _why_not_stale(folder: Path) -> Optional[str]:
    """``None`` when ``folder`` is ours and its process is gone; else why it is kept."""
    try:
        marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
        pid, host = int(marker["pid"]), str(marker["host"])
    except (OSError, ValueError, KeyError, TypeError):
        return "without a readable marker (not made by this package's writer)"
    if host != socket.gethostname():
        return f"made on another host ({host})"
    if _running(pid):
        return f"of a running process (pid {pid})"
    return None


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
