"""Command line: ``python -m recbole_denoise.data.convert <source> --raw ... --out dataset/<name>``.

Exit status: 0 on success, 1 when the conversion fails (the message names the file,
line and field, or the system error), 2 on bad command-line usage.
"""

import argparse
import sys
from typing import List, Optional

from . import SOURCES, load_source
from .writer import ConversionError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m recbole_denoise.data.convert",
        description="Convert a raw public dataset into RecBole atomic files (with the clean flag).",
    )
    sources = parser.add_subparsers(dest="source", required=True, metavar="source")
    for name in SOURCES:
        module = load_source(name)
        sub = sources.add_parser(name, help=module.DESCRIPTION, description=module.__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
        add_common_arguments(sub)
        module.add_arguments(sub)
    return parser


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--raw", required=True, help="raw file or folder")
    parser.add_argument("--out", required=True, help="output folder, dataset/<name>")
    parser.add_argument("--name", help="dataset name (default: the name of the --out folder, which it must match)")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier conversion in --out")
    parser.add_argument("--quiet", action="store_true", help="do not print the summary")


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        load_source(args.source).run(args)
    except ConversionError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except OSError as error:  # a raw file that cannot be opened: a message, not a traceback
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
