"""Bad raw inputs tried on every converter, and the reliability table they produce.

Each converter's raw files (the small real-format fixtures in ``tests/fixtures``) are
copied to a temporary folder, one file is spoiled in one way, and the conversion is
run. What every reader must do with each spoiled file: stop with a
:class:`ConversionError` that names the file and the line (or byte offset), and leave
nothing at ``--out`` nor beside it. ``tests/test_convert_reliability.py`` runs the same
cases; this module also writes the table of docs/reliability.md::

    python -m recbole_denoise.data.convert.reliability --write docs/reliability.md

Spoilings: ``extra field`` (one value too many on the first row: the row pandas would
read as shifted columns), ``truncated last line`` (the file ends half-way through its
last row, no final newline), ``not text`` (the file replaced by 4 KB of random bytes).
For ``.npy`` files the same ideas are a third column, a cut file and random bytes.
"""

import argparse
import random
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from . import convert
from .errors import ConversionError

FIXTURES = Path(__file__).resolve().parents[3] / "tests" / "fixtures"
SPOILINGS = ("extra field", "truncated last line", "not text")
RESUME_SECTION = """<!-- resume:start -->
## Resume

Filled by the resume check.
<!-- resume:end -->
"""


@dataclass(frozen=True)
class Target:
    """One raw file of one converter: ``fixture`` (under ``tests/fixtures``) is copied,
    ``file`` inside the copy is spoiled, ``raw`` inside the copy is passed as ``--raw``."""

    source: str
    fixture: str
    file: str
    raw: str = ""
    kind: str = "delimited"  # delimited, json or npy
    sep: str = ","
    header: bool = True
    options: Dict[str, object] = field(default_factory=dict)
    make: Optional[Callable[[Path], None]] = None  # builds the fixture in code when there is no file
    accepts: Dict[str, str] = field(default_factory=dict)  # spoiling -> why converting it is right
    variant: str = ""  # options that make another reader of the same source, shown with its name

    @property
    def converter(self) -> str:
        return f"{self.source} {self.variant}".strip()

    @property
    def label(self) -> str:
        return f"{self.converter}: {self.file}"


def _mmgcn_layout(folder: Path) -> None:
    """A tiny MMGCN folder (3 users, items offset by 3) without pickled arrays."""
    folder.mkdir(parents=True)
    np.save(folder / "train.npy", np.array([[0, 3], [0, 4], [1, 4], [1, 5], [2, 3]], dtype=np.int64))
    np.save(folder / "val_full.npy", np.array([[0, 5], [1, 3], [2, 4]], dtype=np.int64))
    np.save(folder / "test_full.npy", np.array([[0, 5], [1, 3], [2, 5]], dtype=np.int64))


TARGETS: Sequence[Target] = (
    Target("watch-csv", "watch_csv/interactions.csv", "interactions.csv"),
    Target("mva", "mva", "data_final2.csv"),
    Target("kuairand", "kuairand/KuaiRand-Pure", "data/log_random_4_22_to_5_08_pure.csv"),
    Target("kuairand", "kuairand/KuaiRand-Pure", "data/user_features_pure.csv"),
    Target("kuairand", "kuairand/KuaiRand-Pure", "data/video_features_basic_pure.csv"),
    Target("tiktok", "tiktok", "final_track2_train.txt", raw="final_track2_train.txt", sep="\t", header=False),
    Target("tiktok", "tiktok", "features/track2_video_features.txt", raw="final_track2_train.txt", kind="json",
           options={"features": "features"}),
    Target("adt", "adt/yelp", "yelp.train.rating", sep="\t", header=False),
    Target("adt", "adt/yelp", "yelp.test.negative", sep="\t", header=False,
           accepts={"extra field": "further columns are the authors' sampled negatives, which are ignored"}),
    Target("yelp", "yelp", "yelp_academic_dataset_review.json", kind="json"),
    Target("amazon-book", "amazon_book/reviews_Books_5.json", "reviews_Books_5.json", kind="json"),
    Target("amazon-book", "amazon_book/ratings_Books.csv", "ratings_Books.csv", header=False),
    Target("adressa", "adressa/one_week", "20170101", kind="json"),
    Target("mmrec", "mmrec/toy.inter", "toy.inter", sep="\t"),
    Target("mmgcn", "", "train.npy", kind="npy", make=_mmgcn_layout),
    Target("taobao", "taobao", "raw_sample.csv"),
    Target("taobao", "taobao", "ad_feature.csv"),
    Target("taobao", "taobao", "user_profile.csv"),
    Target("taobao", "taobao", "behavior_log.csv"),
    Target("kuairand", "kuairand/KuaiRand-Pure", "data/log_random_4_22_to_5_08_pure.csv",
           options={"mode": "feedback", "label": "like"}, variant="--mode feedback"),
    Target("feedback-csv", "feedback_csv/interactions.tsv", "interactions.tsv", raw="interactions.tsv", sep="\t",
           options={"user_column": "user_id", "item_column": "video_id", "time_column": "time_ms",
                    "label_column": "label", "click_column": "is_click", "like_column": "label",
                    "dislike_column": "1-label"}),
    Target("feedback-csv", "feedback_csv/plain.csv", "plain.csv", raw="plain.csv",
           options={"user_column": "uid", "item_column": "item", "time_column": "t", "label_column": "y",
                    "click_column": "clicked", "like_column": "liked", "dislike_column": "disliked",
                    "item_features": ["brand", "category"]}),
)


@dataclass
class Outcome:
    target: Target
    spoiling: str
    error: Optional[str]  # the message, with the temporary folder shown as <tmp>; None: converted
    rows_kept: Optional[int] = None
    leftovers: List[str] = field(default_factory=list)  # anything at or beside --out afterwards


# --------------------------------------------------------------------------- spoiling


def spoil(path: Path, spoiling: str, target: Target) -> None:
    """Spoil the raw file ``path`` in place (see the module docstring)."""
    if spoiling == "not text":
        path.write_bytes(_random_bytes(4096))
    elif target.kind == "npy":
        _spoil_npy(path, spoiling)
    elif spoiling == "extra field":
        lines = path.read_text(encoding="utf-8").split("\n")
        row = 1 if target.header else 0
        extra = ',"999"' if target.kind == "json" else f"{target.sep}999"
        lines[row] += extra
        path.write_text("\n".join(lines), encoding="utf-8")
    elif spoiling == "truncated last line":
        text = path.read_text(encoding="utf-8").rstrip("\n")
        last = text.rfind("\n") + 1
        path.write_text(text[:last + (len(text) - last) // 2], encoding="utf-8")
    else:
        raise ValueError(f"unknown spoiling {spoiling!r}")


def _spoil_npy(path: Path, spoiling: str) -> None:
    if spoiling == "extra field":
        array = np.load(path)
        np.save(path, np.concatenate([array, np.full((len(array), 1), 7, dtype=array.dtype)], axis=1))
    else:
        data = path.read_bytes()
        path.write_bytes(data[: len(data) * 2 // 3])


def _random_bytes(count: int) -> bytes:
    data = random.Random(2026).randbytes(count)
    return b"\xff" + data[1:]  # never the gzip magic by chance, and never valid UTF-8


# --------------------------------------------------------------------------- running


def run_case(target: Target, spoiling: str, work: Path, fixtures: Path = FIXTURES) -> Outcome:
    """Copy the target's fixture into ``work``, spoil it, convert it, report what happened."""
    copy = work / "raw"
    if target.make is not None:
        target.make(copy)
    else:
        source = fixtures / target.fixture
        if source.is_dir():
            shutil.copytree(source, copy)
        else:
            copy.mkdir(parents=True)
            shutil.copy(source, copy / source.name)
    spoil(copy / target.file, spoiling, target)
    out = work / "out" / "spoiled"
    options = {key: copy / value if key == "features" else value for key, value in target.options.items()}
    if target.source == "mmgcn":
        options["trust_pickle"] = False
    raw = copy / target.raw if target.raw else copy
    try:
        summary = convert(target.source, raw, out, quiet=True, **options)
        outcome = Outcome(target, spoiling, None, rows_kept=summary.rows_kept)
    except ConversionError as error:
        outcome = Outcome(target, spoiling, str(error).replace(str(work), "<tmp>"))
    if out.parent.is_dir() and outcome.error is not None:
        outcome.leftovers = sorted(p.name for p in out.parent.iterdir())
    return outcome


def run_all(fixtures: Path = FIXTURES) -> List[Outcome]:
    outcomes = []
    for target in TARGETS:
        for spoiling in SPOILINGS:
            with tempfile.TemporaryDirectory(prefix="reliability-") as work:
                outcomes.append(run_case(target, spoiling, Path(work), fixtures))
    return outcomes


# --------------------------------------------------------------------------- the document


def render(outcomes: Sequence[Outcome]) -> str:
    lines = [
        "# Converter reliability",
        "",
        "Written by `python -m recbole_denoise.data.convert.reliability --write docs/reliability.md`",
        "(do not edit by hand); the same cases run in `tests/test_convert_reliability.py`.",
        "Each converter's small real-format raw files (`tests/fixtures`) are copied, one file is",
        "spoiled, and the conversion is run. Spoilings: **extra field**: one value too many on the",
        "first row; **truncated last line**: the file ends half-way through its last row;",
        "**not text**: the file replaced by 4 KB of random bytes (for `.npy`: a third column, a cut",
        "file, random bytes). Expected every time: an error naming the file and the line (or byte",
        "offset), exit status 1 on the command line, and nothing written at or beside `--out`.",
        "",
        "| converter | raw file | bad input | result | message |",
        "|---|---|---|---|---|",
    ]
    for outcome in outcomes:
        if outcome.error is None:
            why = outcome.target.accepts.get(outcome.spoiling)
            result = "converted, as intended" if why else "**converted**"
            message = f"{outcome.rows_kept} rows kept" + (f" ({why})" if why else "")
        else:
            result = "error" + (f", left {', '.join(outcome.leftovers)}" if outcome.leftovers else "")
            message = outcome.error.replace("|", "\\|")
        lines.append(f"| {outcome.target.converter} | `{outcome.target.file}` | {outcome.spoiling} | {result} | "
                     f"{message} |")
    lines += ["", "Other failures handled by the shared writer (tested in `tests/test_convert_reliability.py`):",
              "", "- an unwritable `--out` (a path under a file, or under `/proc`): `cannot create the output "
              "folder (...)`, before any reading;",
              "- a hidden `.<name>.partial-*` folder left by a killed conversion to the same `--out`: removed "
              "(`note: removed ...`) when its marker names a process of this host that no longer runs; any "
              "other such folder, and an earlier output set aside (`.<name>.old-*`), is reported with its path "
              "and left in place;",
              "- a disk error while writing: `cannot write the output (...)`, the partial folder removed.", "",
              RESUME_SECTION.rstrip()]
    return "\n".join(lines) + "\n"


def write_document(path: Path, outcomes: Sequence[Outcome]) -> None:
    """Write the table, keeping whatever another tool put between the resume markers."""
    text = render(outcomes)
    if path.is_file():
        old = path.read_text(encoding="utf-8")
        start, end = old.find("<!-- resume:start -->"), old.find("<!-- resume:end -->")
        if 0 <= start < end:
            kept = old[start:end + len("<!-- resume:end -->")]
            text = text.replace(RESUME_SECTION.rstrip(), kept)
    path.write_text(text, encoding="utf-8")


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m recbole_denoise.data.convert.reliability",
                                     description="Try bad raw inputs on every converter and report what each gets.")
    parser.add_argument("--write", metavar="FILE", help="write the markdown table to FILE (default: print it)")
    parser.add_argument("--fixtures", default=str(FIXTURES), help="folder of the raw fixtures (tests/fixtures)")
    args = parser.parse_args(argv)
    outcomes = run_all(Path(args.fixtures))
    if args.write:
        write_document(Path(args.write), outcomes)
    else:
        print(render(outcomes), end="")
    return 0 if all(as_intended(o) for o in outcomes) else 1


def as_intended(outcome: Outcome) -> bool:
    """An error with nothing left behind, or a conversion the target accepts on purpose."""
    if outcome.error is None:
        return outcome.spoiling in outcome.target.accepts
    return not outcome.leftovers


if __name__ == "__main__":
    raise SystemExit(main())
