"""Runs the pipeline on this machine with TFX's LocalDagRunner, showing progress per component.

absl, TensorFlow and Beam logs go to a log file under the pipeline home; the terminal shows one
line per component (running / cached / done / failed, with durations; on a terminal the running
line counts its elapsed time) and the run summary.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sys
import threading
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
# Held by the run using a pipeline home (see `home_lock`).
RUN_LOCK = ".run.lock"


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
    """A plain progress printer: one line per state change, to stdout."""
    ProgressPrinter(sys.stdout, live=False)(node)


def elapsed_text(seconds: float) -> str:
    """Elapsed time as a clock: ``0:07``, ``11:02``, ``1:02:03``."""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class ProgressPrinter:
    """Prints component progress, one line per state change.

    Live (on a terminal), the running component's line also shows its elapsed time, rewritten
    in place every `interval` seconds, so a long step visibly moves; in a file or a pipe each
    state change stays one plain line.

    Args:
        stream: where to print.
        live: rewrite the running line in place; default: when `stream` is a terminal.
        interval: seconds between rewrites.
        clock: the time source (seconds).
    """

    _CLEAR_TO_END = "\x1b[K"

    def __init__(
        self,
        stream: TextIO,
        *,
        live: bool | None = None,
        interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.live = stream.isatty() if live is None else live
        self._interval = interval
        self._clock = clock
        self._running: NodeProgress | None = None
        self._started = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def __call__(self, node: NodeProgress) -> None:
        with self._lock:
            if node.status == "running":
                self._running, self._started = node, self._clock()
                if self.live:
                    self._write_running()
                    self._start_ticker()
                else:
                    self.stream.write(f"  {node.node_id:<22} running\n")
            else:
                self._running = None
                start, end = ("\r", self._CLEAR_TO_END + "\n") if self.live else ("", "\n")
                self.stream.write(f"{start}  {node.node_id:<22} {node.status:<7} {node.seconds:6.1f} s{end}")
            self.stream.flush()

    def tick(self) -> None:
        """Rewrites the running line with its elapsed time (live only)."""
        with self._lock:
            if self.live and self._running is not None:
                self._write_running()
                self.stream.flush()

    def close(self) -> None:
        """Stops the rewrites; ends a running line that was left open (e.g. on Ctrl-C)."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
        with self._lock:
            if self.live and self._running is not None:
                self.stream.write("\n")
                self.stream.flush()

    def _write_running(self) -> None:
        elapsed = elapsed_text(self._clock() - self._started)
        self.stream.write(f"\r  {self._running.node_id:<22} running {elapsed:>7}{self._CLEAR_TO_END}")

    def _start_ticker(self) -> None:
        if self._ticker is None:
            self._ticker = threading.Thread(target=self._tick_until_closed, name="progress", daemon=True)
            self._ticker.start()

    def _tick_until_closed(self) -> None:
        while not self._stop.wait(self._interval):
            self.tick()


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


class HomeInUse(RuntimeError):
    """Another run is using the pipeline home; the message names its process."""


@contextlib.contextmanager
def home_lock(home: str) -> Iterator[None]:
    """Holds `<home>/.run.lock` for one run. The kernel frees it when the process ends, even
    on `kill -9`, so a held lock always means a live run.

    Raises:
        HomeInUse: another process holds it.
    """
    path = Path(home) / RUN_LOCK
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise HomeInUse(
                f"another clickpipe run (pid {holder}) is using {home}; wait for it to end or give another --home"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def abandon_interrupted(config: ClickpipeConfig) -> list[str]:
    """Marks the executions a killed run left unfinished in ML Metadata as abandoned (hold the
    home's lock first); returns their node ids."""
    if not Path(config.pipeline.metadata_path).is_file():
        return []
    from pipeline.local import metadata

    return metadata.abandon_unfinished(metadata.open_store(config.pipeline.metadata_path), config.pipeline.name)


def run_local(
    config: ClickpipeConfig,
    on_event: Callable[[NodeProgress], None] | None = None,
    *,
    statistics_only: bool = False,
) -> RunOutcome:
    """Runs the pipeline once with LocalDagRunner on the config's span.

    Before TFX starts it takes the home's lock, marks what a killed earlier run left RUNNING
    in ML Metadata as abandoned, resolves the span and runs the pre-flight checks
    (`pipeline.local.preflight`).

    Args:
        config: the validated config; `dataset.span` may be "latest".
        on_event: called on every component state change; default: a `ProgressPrinter` on
            the terminal.
        statistics_only: run only ingestion and statistics (`create_statistics_pipeline`),
            which need no schema: for `clickpipe schema infer` on a dataset without one.

    Returns:
        What ran, how long it took, and the error if a component failed; read the run's
        results with `pipeline.local.summary.collect`.

    Raises:
        components.ingest.span_selection.SpanError: the source, prefix or span does not exist.
        HomeInUse: another run is using the pipeline home.
        pipeline.local.preflight.PreflightError: the config does not fit the span's rows or
            the schema file.
    """
    with home_lock(config.pipeline.home):
        abandoned = abandon_interrupted(config)
        if abandoned:
            print(
                f"  marked {len(abandoned)} unfinished execution(s) of an interrupted run as abandoned: "
                f"{', '.join(abandoned)}",
                flush=True,
            )
        return _run_locked(config, on_event, statistics_only)


def _run_locked(
    config: ClickpipeConfig, on_event: Callable[[NodeProgress], None] | None, statistics_only: bool
) -> RunOutcome:
    from components.ingest.creatives import stored_creatives_fingerprint
    from components.ingest.span_selection import SpanError, resolve_spans
    from components.ingest.storage import StorageError, open_storage
    from pipeline.local import preflight

    dataset = config.dataset
    try:
        storage = open_storage(dataset.source)
    except StorageError as exc:
        raise SpanError(str(exc)) from None
    selection = resolve_spans(
        dataset.source, dataset.impressions_pattern, dataset.span, dataset.window, storage,
        span_column=dataset.span_column, span_format=dataset.span_format,
    )
    span = selection.months[-1]
    # The rows first: a config that does not fit the data is the first thing to fix.
    preflight.check_rows(config, storage, selection)
    if not statistics_only:
        preflight.check_schema(config, span)
    # Then where the Beam stages run: a Flink cluster that is not there fails before TFX starts.
    preflight.check_beam_args(config.pipeline.beam_args)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    kind = "statistics" if statistics_only else "run"
    log_path = Path(config.pipeline.logs_dir) / f"{kind}-{span}-{stamp}.log"
    outcome = RunOutcome(
        span=span, months=list(selection.months), log_path=str(log_path)
    )
    absl_logger = logging.getLogger("absl")
    with logs_to_file(log_path) as terminal:
        # Imported here so that TensorFlow's start-up noise lands in the log too.
        from tfx.orchestration.local.local_dag_runner import LocalDagRunner

        from pipeline.pipeline import RunTarget, create_pipeline, create_statistics_pipeline

        target = RunTarget.local(config, span=span, span_files=selection.fingerprint,
                                 creatives=stored_creatives_fingerprint(storage, config.registry()))
        pipeline = (create_statistics_pipeline if statistics_only else create_pipeline)(config, target)
        printer = ProgressPrinter(terminal) if on_event is None else None
        handler = ProgressHandler(printer or _to_terminal(terminal, on_event))
        absl_logger.addHandler(handler)
        try:
            LocalDagRunner().run(pipeline)
        except Exception as exc:  # noqa: BLE001 - any component failure ends the run with its message
            logging.exception("pipeline run failed")
            outcome.failed_node = handler.fail_current()
            outcome.error = f"{type(exc).__name__}: {exc}"
        finally:
            absl_logger.removeHandler(handler)
            if printer is not None:
                printer.close()
        outcome.nodes = handler.nodes
    return outcome
