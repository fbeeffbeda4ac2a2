"""What every `clickpipe` command shares: exit codes, the user-error type, stop signals, TF set-up."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import TextIO

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NOT_BLESSED = 3


class UserError(Exception):
    """An error the user can fix; printed as one line, without a traceback."""


def stop_requested() -> threading.Event:
    """An event set by Ctrl-C (SIGINT) or SIGTERM, for commands that run until stopped.

    Both handlers are set explicitly: a process started in the background by a shell inherits
    SIGINT ignored, and Python then raises no KeyboardInterrupt.
    """
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    return stop


def prepare_tensorflow() -> None:
    """Sets what TFX 1.16 needs before TensorFlow is first imported: the Keras it trains with
    (tf_keras) and C++ logs without INFO/WARNING noise. A value the user set is kept."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def command_log(home: str, command: str) -> Path:
    """The log file of a command's library output: `<home>/logs/<command>.log`."""
    return Path(home) / "logs" / f"{command}.log"


@contextlib.contextmanager
def quiet_libraries(log_path: Path) -> Iterator[TextIO]:
    """Sends what libraries write to stderr in the block to `log_path`, appended: TensorFlow's
    C++ start-up lines, Python warnings, absl and other log records. Stdout stays as it is.

    Also prepares TensorFlow (see `prepare_tensorflow`), since every such command loads it.
    When the log cannot be written (a read-only home), a temporary file takes its place.

    Yields:
        A stream to the terminal's stderr, for messages of clickpipe's own.
    """
    prepare_tensorflow()
    try:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(log_path, "ab")  # noqa: SIM115 - closed as soon as fd 2 points at it
    except OSError:
        log = tempfile.NamedTemporaryFile(prefix="clickpipe-", suffix=".log", delete=False)  # noqa: SIM115
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    log.write(f"\n== {stamp} clickpipe {' '.join(sys.argv[1:])}\n".encode())
    sys.stderr.flush()
    saved = os.dup(2)
    os.dup2(log.fileno(), 2)
    log.close()
    terminal = os.fdopen(os.dup(saved), "w", buffering=1)
    try:
        yield terminal
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        terminal.close()


def invocation() -> str:
    """How to call clickpipe from this shell: `clickpipe` when it is on PATH, else the path
    of the virtual environment's script (e.g. `.venv/bin/clickpipe`), for printed hints."""
    if shutil.which("clickpipe"):
        return "clickpipe"
    script = Path(sys.executable).parent / "clickpipe"
    if not script.is_file():
        return "python -m pipeline.cli"
    with contextlib.suppress(ValueError):
        return str(script.relative_to(Path.cwd()))
    return str(script)
