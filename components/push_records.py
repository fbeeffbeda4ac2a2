"""Pushed-model records under the serving model base path: which model is in production.

Layout (TF Serving's): ``<base>/<version>/`` with a numeric version and ``saved_model.pb``
written last, so a version without it is still being written and does not count. Beside the
model, the Pusher writes a record ``<base>/<version>/assets.extra/clickpipe_push.json``
(`PushRecord`); TF Serving ignores it.

TF Serving's default version policy serves the highest numeric version, so that is the model
in production. A rollback re-pushes an earlier version's files as a new highest version whose
record says ``rollback_of``: TF Serving picks it up like any push, and the history stays in
the records. Works on a local folder or gs:// through TFX's `fileio`.

A record carries the digest of the model's files (`model_digest`), so a model already pushed
is recognised whatever folder it is read from: a re-run of an unchanged month, a retry after a
failure in or after the push, or a rollback never turns one model into two versions.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

EXTRA_DIR = "assets.extra"
RECORD_PATH = os.path.join(EXTRA_DIR, "clickpipe_push.json")
SCHEMA_VERSION = 1
SAVED_MODEL = "saved_model.pb"
# Beside a Model artifact's `Format-Serving/`: every pushed version's record (FindProductionModel).
PUSHED_INDEX = "pushed_versions.json"


class RecordError(ValueError):
    """A rollback or record request a user must fix; the message names the version."""


@dataclass(frozen=True)
class PushRecord:
    """What was pushed as one serving version.

    Attributes:
        version: the numeric version folder name (TF Serving's model version).
        span: the data span the model was trained on, e.g. ``2026-10``.
        run_id: the pipeline run that pushed it.
        pushed_at: when, as an ISO-8601 UTC timestamp.
        blessed: whether the Evaluator blessed it (the Pusher pushes only blessed models).
        metrics: key overall metrics of the candidate at push time (TFMA names).
        model_uri: the Trainer's model artifact the files came from.
        model_digest: `model_digest` of the model's files ("" in records written before it).
        rollback_of: for a rollback, the earlier version whose files these are.
        path: where the version lives; filled in when read, not stored.
    """

    version: int
    span: str = ""
    run_id: str = ""
    pushed_at: str = ""
    blessed: bool = True
    metrics: dict[str, float] = field(default_factory=dict)
    model_uri: str = ""
    model_digest: str = ""
    rollback_of: int | None = None
    path: str = field(default="", compare=False)

    def to_json(self) -> str:
        """The record file's content."""
        data = asdict(self)
        data.pop("path")
        return json.dumps({"schema": SCHEMA_VERSION, **data}, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, path: str = "") -> PushRecord:
        """Parses a record file; unknown keys from newer writers are ignored."""
        data = json.loads(text)
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__ and k != "path"}
        return cls(**known, path=path)


def now() -> str:
    """The current UTC time as a record timestamp."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _fileio():
    from tfx.dsl.io import fileio

    return fileio


class _LocalReads:
    """The reads of TFX's `fileio` for a local folder, without loading TensorFlow."""

    exists = staticmethod(os.path.exists)
    isdir = staticmethod(os.path.isdir)
    listdir = staticmethod(os.listdir)
    open = staticmethod(open)


def _reader(path: str):
    # Listing and reading local records stays fast (`clickpipe models list`); URIs need TFX.
    return _fileio() if "://" in path else _LocalReads


def _numeric_versions(model_base_path: str) -> list[int]:
    fileio = _reader(model_base_path)
    if not fileio.isdir(model_base_path):
        return []
    names = (name.rstrip("/") for name in fileio.listdir(model_base_path))
    return sorted(int(name) for name in names if name.isdigit())


def version_path(model_base_path: str, version: int) -> str:
    """The folder of one version."""
    return os.path.join(model_base_path, str(version))


def read_record(model_base_path: str, version: int) -> PushRecord | None:
    """The record of one complete version; a bare record when the Pusher wrote none.

    Returns:
        None when the version is missing or still being written (no ``saved_model.pb``).
    """
    fileio = _reader(model_base_path)
    path = version_path(model_base_path, version)
    if not fileio.exists(os.path.join(path, SAVED_MODEL)):
        return None
    record_file = os.path.join(path, RECORD_PATH)
    if not fileio.exists(record_file):
        return PushRecord(version=version, path=path)
    with fileio.open(record_file, "r") as f:
        text = f.read()
    try:
        record = PushRecord.from_json(text, path=path)
    except (ValueError, TypeError) as exc:
        raise RecordError(f"unreadable push record {record_file}: {exc}") from None
    # The folder name is what TF Serving serves, whatever the record says.
    return record if record.version == version else PushRecord(**{**asdict(record), "version": version})


def model_digest(saved_model_dir: str) -> str:
    """A SHA-256 over a SavedModel's files (relative paths and contents), `assets.extra/` left out.

    `assets.extra/` holds what a push adds (the record, warmup requests), so the Trainer's
    output and every version pushed from it have the same digest.
    """
    fileio = _fileio()
    root = saved_model_dir.rstrip("/")
    files = []
    for folder, _, names in fileio.walk(root):
        relative = os.path.relpath(folder, root)
        if relative.split(os.sep)[0] == EXTRA_DIR:
            continue
        files.extend(os.path.normpath(os.path.join(relative, name)) for name in names)
    digest = hashlib.sha256()
    for name in sorted(files):
        content = hashlib.sha256()
        with fileio.open(os.path.join(root, name), "rb") as f:
            while chunk := f.read(1 << 20):
                content.update(chunk)
        digest.update(f"{name}\0{content.hexdigest()}\n".encode())
    return digest.hexdigest()


def find_pushed(pushed: list[PushRecord], digest: str, model_uri: str = "") -> PushRecord | None:
    """The newest pushed version holding this model: same digest, or, for records written
    before digests, the same Trainer artifact."""
    for record in reversed(pushed):
        if record.model_digest == digest or (not record.model_digest and model_uri and record.model_uri == model_uri):
            return record
    return None


def unfinished_version(model_base_path: str, digest: str) -> int | None:
    """A version folder a failed push left without ``saved_model.pb``, whose record names this
    model: pushing again finishes it instead of adding a second version."""
    fileio = _reader(model_base_path)
    for version in reversed(_numeric_versions(model_base_path)):
        path = version_path(model_base_path, version)
        record_file = os.path.join(path, RECORD_PATH)
        if fileio.exists(os.path.join(path, SAVED_MODEL)) or not fileio.exists(record_file):
            continue
        with fileio.open(record_file, "r") as f:
            try:
                record = PushRecord.from_json(f.read())
            except (ValueError, TypeError):
                continue
        if record.model_digest == digest:
            return version
    return None


def write_index(folder: str, pushed: list[PushRecord]) -> str:
    """Writes the records of every pushed version into `folder` (see `PUSHED_INDEX`)."""
    fileio = _fileio()
    fileio.makedirs(folder)
    path = os.path.join(folder, PUSHED_INDEX)
    with fileio.open(path, "w") as f:
        f.write(json.dumps([{**asdict(r), "path": r.path} for r in pushed], indent=1))
    return path


def read_index(folder: str) -> list[PushRecord]:
    """The records `write_index` wrote into `folder`; empty when it wrote none."""
    fileio = _fileio()
    path = os.path.join(folder, PUSHED_INDEX)
    if not fileio.exists(path):
        return []
    with fileio.open(path, "r") as f:
        return [PushRecord(**item) for item in json.loads(f.read())]


def pushed_versions(model_base_path: str) -> list[PushRecord]:
    """Every complete pushed version, oldest first."""
    records = (read_record(model_base_path, v) for v in _numeric_versions(model_base_path))
    return [r for r in records if r is not None]


def latest_pushed(model_base_path: str) -> PushRecord | None:
    """The model in production: the highest complete version, or None before the first push."""
    for version in reversed(_numeric_versions(model_base_path)):
        record = read_record(model_base_path, version)
        if record is not None:
            return record
    return None


def fingerprint(model_base_path: str) -> str:
    """A short text that changes whenever the production model changes (for cache keys)."""
    record = latest_pushed(model_base_path)
    return f"{record.version}@{record.pushed_at}" if record else "none"


def next_version(model_base_path: str) -> int:
    """A version above every existing one; seconds since the epoch, as TFX's Pusher uses."""
    existing = _numeric_versions(model_base_path)
    return max(int(time.time()), existing[-1] + 1 if existing else 0)


def write_record(version_dir: str, record: PushRecord) -> str:
    """Writes a version's record; call before ``saved_model.pb`` is written. Returns its path."""
    fileio = _fileio()
    path = os.path.join(version_dir, RECORD_PATH)
    fileio.makedirs(os.path.dirname(path))
    with fileio.open(path, "w") as f:
        f.write(record.to_json())
    return path


def copy_version(source_dir: str, target_dir: str, record: PushRecord,
                 extra_files: Mapping[str, str] | None = None) -> None:
    """Copies a SavedModel folder into a new version with its record, ``saved_model.pb`` last.

    Args:
        source_dir: the SavedModel folder.
        target_dir: the new version folder.
        record: the version's push record.
        extra_files: more files for the version, path inside it → source file (e.g. warmup
            records at ``assets.extra/tf_serving_warmup_requests``); copied before
            ``saved_model.pb``, replacing a same-named file of the model.
    """
    fileio = _fileio()
    source_dir = source_dir.rstrip("/")
    for folder, _, files in fileio.walk(source_dir):
        relative = os.path.relpath(folder, source_dir)
        destination = os.path.normpath(os.path.join(target_dir, relative))
        fileio.makedirs(destination)
        for name in files:
            if relative == "." and name == SAVED_MODEL:
                continue
            if os.path.join(relative, name) == os.path.normpath(os.path.join(".", RECORD_PATH)):
                continue
            fileio.copy(os.path.join(folder, name), os.path.join(destination, name), overwrite=True)
    for relative, source in (extra_files or {}).items():
        destination = os.path.join(target_dir, relative)
        fileio.makedirs(os.path.dirname(destination))
        fileio.copy(source, destination, overwrite=True)
    write_record(target_dir, record)
    # Written last: a poller never loads a half-copied version.
    fileio.copy(os.path.join(source_dir, SAVED_MODEL), os.path.join(target_dir, SAVED_MODEL), overwrite=True)


def rollback(model_base_path: str, version: int, run_id: str = "") -> PushRecord:
    """Makes an earlier version the served one by re-pushing its files as the newest version.

    Args:
        model_base_path: the serving model base path (local or gs://).
        version: the earlier version to serve again.
        run_id: who asked, stored in the new record (e.g. ``cli:alice``).

    Returns:
        The new version's record.

    Raises:
        RecordError: the version does not exist, is incomplete, or is already served.
    """
    current = latest_pushed(model_base_path)
    source = read_record(model_base_path, version)
    if source is None:
        known = ", ".join(str(r.version) for r in pushed_versions(model_base_path)) or "none"
        raise RecordError(f"no complete pushed version {version} under {model_base_path} (versions: {known})")
    if current is not None and current.version == version:
        raise RecordError(f"version {version} is already the served version")
    if current is not None and source.version == current.rollback_of:
        raise RecordError(f"version {version} is already served, as version {current.version}")
    new_version = next_version(model_base_path)
    record = PushRecord(
        version=new_version,
        span=source.span,
        run_id=run_id,
        pushed_at=now(),
        blessed=source.blessed,
        metrics=dict(source.metrics),
        model_uri=source.model_uri,
        model_digest=source.model_digest,
        rollback_of=version,
    )
    target = version_path(model_base_path, new_version)
    copy_version(version_path(model_base_path, version), target, record)
    return PushRecord(**{**asdict(record), "path": target})
