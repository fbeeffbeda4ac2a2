"""The `clickpipe` command line: a thin adapter over the project's functions.

Each area registers its own commands through `register(commands, group)`:
`commands` is the top-level subparsers object and `group(name, help)` returns the subparsers
of a command group such as `data` (created on first use). A handler takes the parsed
arguments and returns the exit code. Heavy imports (TensorFlow, TFX, Beam) happen inside
handlers so that `--help` stays fast. Every parser is a `parsing.Parser`: both spellings of a
flag are accepted, and a typo is answered with the closest command or flag.

`kubeflow/` sits above this package (it compiles what `pipeline/` builds), so its `kfp`
commands arrive through the `clickpipe.commands` entry point (pyproject.toml) instead of an
import from here.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points, version

from datagen import cli as data
from pipeline.cli import gcs, models, predict, run, serve, validate
from pipeline.cli.common import EXIT_FAILED, UserError
from pipeline.cli.parsing import LazyVersion, Parser
from pipeline.config import ConfigError

# The areas of this package and below, in the order `--help` lists them; then entry points.
COMMAND_MODULES = (run, data, gcs, serve, predict, models, validate)
ENTRY_POINTS = "clickpipe.commands"


def build_parser() -> argparse.ArgumentParser:
    """The full `clickpipe` parser with every area's commands."""
    parser = Parser(
        prog="clickpipe",
        description="Ad-click prediction on TFX: ingest, validate, train, evaluate, push, serve.",
    )
    parser.add_argument(
        "--version", action=LazyVersion, version=lambda: f"clickpipe {version('clickpipe')}",
        help="print the version and exit",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    groups: dict[str, argparse._SubParsersAction] = {}

    def group(name: str, help_text: str) -> argparse._SubParsersAction:
        if name not in groups:
            group_parser = commands.add_parser(name, help=help_text, description=help_text)
            groups[name] = group_parser.add_subparsers(
                dest=f"{name}_command", metavar="COMMAND", required=True
            )
        return groups[name]

    for module in COMMAND_MODULES:
        module.register(commands, group)
    for entry_point in sorted(entry_points(group=ENTRY_POINTS), key=lambda e: e.name):
        entry_point.load()(commands, group)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `clickpipe` console script."""
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except KeyboardInterrupt:
        print("clickpipe: interrupted", file=sys.stderr)
        return 130
    except (UserError, ConfigError) as exc:
        print(f"clickpipe: {exc}", file=sys.stderr)
        return EXIT_FAILED
