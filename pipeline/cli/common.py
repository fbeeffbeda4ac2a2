"""What every `clickpipe` command shares: exit codes, the user-error type, stop signals, TF set-up."""

from __future__ import annotations

import os
import signal
import threading

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
