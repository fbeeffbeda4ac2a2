"""The `clickpipe` command line: a thin adapter over the project's functions.

Each area registers its own commands through `register(commands, group)`:
`commands` is the top-level subparsers object and `group(name, help)` returns the subparsers
of a command group such as `data` (created on first use). A handler takes the parsed
arguments and returns the exit code. Heavy imports (TensorFlow, TFX, Beam) happen inside
handlers so that `--help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading
from collections.abc import Callable, Sequence

from pipeline.config import ConfigError

# Modules that add commands; see each module's `register`.
COMMAND_MODULES = (
    "pipeline.cli_run",
    "datagen.cli",
    "pipeline.cli_gcs",
    "serving.cli",
    "kubeflow.cli",
    "pipeline.cli_models",
    "pipeline.cli_validate",
)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NOT_BLESSED = 3


def stop_requested() -> threading.Event:
    """An event set by Ctrl-C (SIGINT) or SIGTERM, for commands that run until stopped.

    Both handlers are set explicitly: a process started in the background by a shell inherits
    SIGINT ignored, and Python then raises no KeyboardInterrupt.
    """
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    return stop


class UserError(Exception):
    """An error the user can fix; printed as one line, without a traceback."""


def build_parser() -> argparse.ArgumentParser:
    """The full `clickpipe` parser with every area's commands."""
    parser = argparse.ArgumentParser(
        prog="clickpipe",
        description="Ad-click prediction on TFX: ingest, validate, train, evaluate, push, serve.",
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

    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(commands, group)
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


if __name__ == "__main__":
    sys.exit(main())
