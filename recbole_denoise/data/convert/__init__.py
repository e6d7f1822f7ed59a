"""Converters from public raw datasets to RecBole atomic files.

One module per raw source, registered in :data:`SOURCES` (CLI name -> module path).
A source module exposes:

- ``SOURCE`` and ``DESCRIPTION`` (one line, shown by ``--help``);
- ``add_arguments(parser)``: its own command-line options;
- ``run(args)``: the CLI entry, which calls
- ``convert(raw, out, *, name=None, overwrite=False, quiet=False, **options)``: the
  Python entry, returning a :class:`ConversionSummary`.

Every module reads raw text through :mod:`.reader` (UTF-8 checked, the field count of
every delimited row checked, blocks of bounded size), types the columns of CSV logs
with :mod:`.columns` (ids, numbers, 0/1 flags; errors name file, line and field), and
writes through
:func:`writer.write_atomic_dataset` (atomic, with a
``<name>.yaml`` RecBole config and a ``conversion.json`` summary). Item feature files of
multimodal sources follow the one convention of :mod:`.features`, staged with the atomic
files. Adding a source is one module plus one line in :data:`SOURCES`.

Command line::

    python -m recbole_denoise.data.convert <source> --raw DIR_OR_FILE --out dataset/<name> \\
        [--name NAME] [--overwrite] [--quiet] [source options]
"""

import importlib
from types import ModuleType

from .writer import AtomicTable, ConversionError, ConversionSummary, write_atomic_dataset

SOURCES = {
    "adt": "recbole_denoise.data.convert.adt_layout",
    "yelp": "recbole_denoise.data.convert.yelp",
    "amazon-book": "recbole_denoise.data.convert.amazon_book",
    "adressa": "recbole_denoise.data.convert.adressa",
    "mmgcn": "recbole_denoise.data.convert.mmgcn_layout",
    "mmrec": "recbole_denoise.data.convert.mmrec_layout",
    "tiktok": "recbole_denoise.data.convert.tiktok_raw",
    "watch-csv": "recbole_denoise.data.convert.watch_csv",
    "kuairand": "recbole_denoise.data.convert.kuairand",
    "mva": "recbole_denoise.data.convert.mva",
    "taobao": "recbole_denoise.data.convert.taobao",
    "feedback-csv": "recbole_denoise.data.convert.feedback_csv",
}


def load_source(name: str) -> ModuleType:
    """The converter module registered as ``name``."""
    if name not in SOURCES:
        raise KeyError(f"unknown source {name!r}; known: {', '.join(SOURCES)}")
    return importlib.import_module(SOURCES[name])


def convert(source: str, raw, out, **options) -> ConversionSummary:
    """Convert ``raw`` with the converter registered as ``source``; see its ``convert``."""
    return load_source(source).convert(raw, out, **options)


__all__ = ["SOURCES", "load_source", "convert", "AtomicTable", "ConversionError", "ConversionSummary",
           "write_atomic_dataset"]
