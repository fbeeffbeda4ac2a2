"""Runs the pipeline on this machine with TFX's LocalDagRunner, showing progress per component.

absl, TensorFlow and Beam logs go to a log file under the pipeline home; the terminal shows one
line per component (running / cached / done / failed, with durations) and the run summary.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TextIO

from absl import logging as absl_logging

from pipeline.config import ClickpipeConfig

# TFX's LocalDagRunner and launcher log these format strings for every node.
_RUNNING = "Component %s is running."
_FINISHED = "Component %s is finished."
_CACHED = "A cached execution %d is used."


@dataclass
class NodeProgress:
    """What happened to one component in this run."""

    node_id: str
    status: str = "pending"
    seconds: float = 0.0


@dataclass
class RunOutcome:
    """The result of one local pipeline run."""

    span: str
    months: list[str]
    log_path: str
    nodes: dict[str, NodeProgress] = field(default_factory=dict)
    error: str = ""
    failed_node: str = ""

    @property
    def succeeded(self) -> bool:
        return not self.error


class ProgressHandler(logging.Handler):
    """Turns TFX's per-node log records into progress events."""

    def __init__(self, on_event: Callable[[NodeProgress], None]) -> None:
        super().__init__(level=logging.INFO)
        self.nodes: dict[str, NodeProgress] = {}
        self._current: NodeProgress | None = None
        self._started = 0.0
        self._on_event = on_event

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg == _RUNNING:
            node = NodeProgress(node_id=str(record.args[0]), status="running")
            self.nodes[node.node_id] = node
            self._current, self._started = node, time.monotonic()
            self._on_event(node)
        elif record.msg == _CACHED and self._current is not None:
            self._current.status = "cached"
        elif record.msg == _FINISHED and self._current is not None:
            node = self._current
            node.status = "cached" if node.status == "cached" else "done"
            node.seconds = time.monotonic() - self._started
            self._current = None
            self._on_event(node)

    def fail_current(self) -> str:
        """Marks the node that was running as failed; returns its id."""
        if self._current is None:
            return ""
        node, self._current = self._current, None
        node.status, node.seconds = "failed", time.monotonic() - self._started
        self._on_event(node)
        return node.node_id


def print_progress(node: NodeProgress) -> None:
    """The default progress printer: one line per state change."""
    if node.status == "running":
        print(f"  {node.node_id:<22} running", flush=True)
    else:
        print(f"  {node.node_id:<22} {node.status:<7} {node.seconds:6.1f} s", flush=True)


@contextlib.contextmanager
def logs_to_file(log_path: Path) -> Iterator[TextIO]:
    """Sends Python logging, stdout and stderr (TF/C++ logs too) to `log_path`.

    Yields:
        A stream to the terminal that was stdout, for progress lines.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    file_handler = logging.FileHandler(log_path)
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.handlers = [file_handler]
    root.setLevel(logging.INFO)
    # TFX reports node progress at INFO on the absl logger. Set absl's verbosity flag, not only
    # the logger level: TensorFlow's SavedModel export saves and restores that flag.
    absl_logger = logging.getLogger("absl")
    absl_saved = absl_logger.propagate, absl_logging.get_verbosity()
    absl_logger.propagate = True
    absl_logging.set_verbosity(absl_logging.INFO)
    logging.captureWarnings(True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved_fds = os.dup(1), os.dup(2)
    terminal = os.fdopen(os.dup(saved_fds[0]), "w", buffering=1)
    with open(log_path, "ab") as raw:
        os.dup2(raw.fileno(), 1)
        os.dup2(raw.fileno(), 2)
    try:
        yield terminal
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved_fds[0], 1)
        os.dup2(saved_fds[1], 2)
        for fd in saved_fds:
            os.close(fd)
        terminal.close()
        logging.captureWarnings(False)
        root.handlers, root.level = saved_handlers, saved_level
        absl_logger.propagate = absl_saved[0]
        absl_logging.set_verbosity(absl_saved[1])
        file_handler.close()


def _to_terminal(terminal: TextIO, on_event: Callable[[NodeProgress], None]) -> Callable[[NodeProgress], None]:
    """Runs `on_event` with `print` going to the terminal instead of the log."""

    def call(node: NodeProgress) -> None:
        with contextlib.redirect_stdout(terminal):
            on_event(node)

    return call


def run_local(
    config: ClickpipeConfig,
    on_event: Callable[[NodeProgress], None] = print_progress,
) -> RunOutcome:
    """Runs the pipeline once with LocalDagRunner on the config's span.

    Args:
        config: the validated config; `dataset.span` may be "latest".
        on_event: called on every component state change.

    Returns:
        What ran, how long it took, and the error if a component failed; read the run's
        results with `pipeline.local.summary.collect`.

    Raises:
        components.ingest.spans.SpanError: the source, prefix or span does not exist.
    """
    from components.ingest.spans import resolve_spans

    dataset = config.dataset
    selection = resolve_spans(dataset.source, dataset.impressions_pattern, dataset.span, dataset.window)
    span = selection.months[-1]
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    log_path = Path(config.pipeline.logs_dir) / f"run-{span}-{stamp}.log"
    outcome = RunOutcome(
        span=span, months=list(selection.months), log_path=str(log_path)
    )
    absl_logger = logging.getLogger("absl")
    with logs_to_file(log_path) as terminal:
        # Imported here so that TensorFlow's start-up noise lands in the log too.
        from tfx import v1 as tfx

        from pipeline.pipeline import RunTarget, create_pipeline

        target = RunTarget.local(config, span=span, span_files=selection.fingerprint)
        pipeline = create_pipeline(config, target)
        handler = ProgressHandler(_to_terminal(terminal, on_event))
        absl_logger.addHandler(handler)
        try:
            tfx.orchestration.LocalDagRunner().run(pipeline)
        except Exception as exc:  # noqa: BLE001 - any component failure ends the run with its message
            logging.exception("pipeline run failed")
            outcome.failed_node = handler.fail_current()
            outcome.error = f"{type(exc).__name__}: {exc}"
        finally:
            absl_logger.removeHandler(handler)
        outcome.nodes = handler.nodes
    return outcome
