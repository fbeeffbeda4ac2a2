"""Reading a dataset source: a GCS bucket prefix or a local folder, through one interface.

`open_storage("gs://bucket/prefix")` reads through google-cloud-storage: application default
credentials in production, anonymous ones when STORAGE_EMULATOR_HOST points at an emulator
(the client's own rule). Transient errors (429, 5xx, connection resets) are retried with
exponential backoff. `open_storage("demo-data")` or `file:///...` reads a folder with the
same methods, so every caller runs the same code on both.

Object names are relative to the source root, with "/" separators, e.g.
``impressions/2026-10/impressions-00000-of-00002.csv``.
"""

from __future__ import annotations

import os
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

EMULATOR_ENV = "STORAGE_EMULATOR_HOST"
CHUNK_BYTES = 8 * 1024 * 1024
# Connections a client keeps to the store: more than the creative fetches in flight.
POOL_CONNECTIONS = 64
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")


class StorageError(RuntimeError):
    """A storage problem a user must fix: missing bucket, no access, no credentials."""


@dataclass(frozen=True)
class ObjectInfo:
    """One stored object.

    Attributes:
        name: the name relative to the source root.
        size: bytes.
        generation: GCS object generation, or the file's mtime in nanoseconds.
        updated: last modification, seconds since the epoch.
        digest: a digest of the content the store keeps (GCS: the MD5, else the CRC32C, base64);
            "" for local files, whose size and mtime stand in for it.
    """

    name: str
    size: int
    generation: int
    updated: float
    digest: str = ""


class Storage(Protocol):
    """What ingestion needs from a source; see `open_storage`."""

    uri: str

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """Every object whose name starts with `prefix`, in name order."""

    def read_chunks(self, info: ObjectInfo, chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
        """The object's bytes in chunks, pinned to the listed generation."""

    def read(self, name: str, limit: int | None = None) -> bytes | None:
        """A whole (small) object, or its first `limit` bytes; None when it does not exist."""


def parse_gcs_url(url: str) -> tuple[str, str]:
    """Splits ``gs://bucket/some/prefix`` into the bucket and a prefix ending in "/" (or "").

    Raises:
        StorageError: not a gs:// URL, or the bucket name is not valid.
    """
    if not url.startswith("gs://"):
        raise StorageError(f"{url!r} is not a gs://BUCKET/PREFIX URL")
    bucket, _, prefix = url[len("gs://") :].partition("/")
    if not _BUCKET_RE.match(bucket):
        raise StorageError(f"{url!r}: {bucket!r} is not a valid bucket name")
    prefix = prefix.strip("/")
    return bucket, f"{prefix}/" if prefix else ""


def retry_policy():
    """Backoff for transient errors: 429, 408, 5xx and connection errors, for up to 5 minutes."""
    from google.cloud.storage.retry import DEFAULT_RETRY

    return DEFAULT_RETRY.with_delay(initial=0.5, maximum=32.0, multiplier=2.0).with_timeout(300.0)


def gcs_client():
    """A google-cloud-storage client: the emulator's if STORAGE_EMULATOR_HOST is set, else ADC.

    Raises:
        StorageError: the emulator does not answer, or no application default credentials.
    """
    import google.auth.exceptions
    import requests.adapters
    from google.cloud import storage

    emulator = os.environ.get(EMULATOR_ENV)
    if emulator:
        check_emulator(emulator)
    try:
        # With STORAGE_EMULATOR_HOST set the client uses anonymous credentials itself.
        client = storage.Client()
    except google.auth.exceptions.DefaultCredentialsError:
        raise StorageError(
            "no Google Cloud credentials: run `gcloud auth application-default login` "
            f"(or set {EMULATOR_ENV} to use a storage emulator)"
        ) from None
    # Parallel creative fetches share the client: keep a connection per thread, not requests' 10.
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=POOL_CONNECTIONS)
    for scheme in ("https://", "http://"):
        client._http.mount(scheme, adapter)  # noqa: SLF001 - the client offers no public hook
    return client


def check_emulator(host: str) -> None:
    """Raises StorageError unless a GCS emulator answers at `host` (e.g. http://127.0.0.1:4443)."""
    try:
        with urllib.request.urlopen(f"{host.rstrip('/')}/storage/v1/b", timeout=5):
            return
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise StorageError(
            f"no storage emulator answers at {EMULATOR_ENV}={host} ({reason}); "
            "start one with `clickpipe gcs emulator` or unset the variable"
        ) from None


class GcsStorage:
    """A bucket prefix read through google-cloud-storage, with retries."""

    def __init__(self, url: str, client=None) -> None:
        self.uri = url.rstrip("/")
        self._bucket_name, self._prefix = parse_gcs_url(url)
        self._client = client or gcs_client()
        self._bucket = self._client.bucket(self._bucket_name)
        self._retry = retry_policy()

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        from google.api_core import exceptions

        try:
            blobs = self._client.list_blobs(
                self._bucket_name, prefix=self._prefix + prefix, retry=self._retry
            )
            for blob in blobs:
                yield ObjectInfo(
                    name=blob.name[len(self._prefix) :],
                    size=blob.size or 0,
                    generation=blob.generation or 0,
                    updated=blob.updated.timestamp() if blob.updated else 0.0,
                    digest=blob.md5_hash or blob.crc32c or "",
                )
        except exceptions.NotFound:
            raise StorageError(
                f"bucket {self._bucket_name!r} does not exist (source {self.uri})"
            ) from None
        except exceptions.Forbidden:
            raise StorageError(f"no permission to list {self.uri}/{prefix}") from None

    def read_chunks(self, info: ObjectInfo, chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
        from google.api_core import exceptions

        blob = self._bucket.blob(self._prefix + info.name, generation=info.generation or None)
        start = 0
        while start < info.size:
            end = min(start + chunk_bytes, info.size) - 1
            try:
                chunk = blob.download_as_bytes(start=start, end=end, retry=self._retry)
            except exceptions.NotFound:
                raise StorageError(
                    f"{self.uri}/{info.name} was replaced or deleted while it was read; run again"
                ) from None
            if not chunk:
                return
            start += len(chunk)
            yield chunk

    def read(self, name: str, limit: int | None = None) -> bytes | None:
        from google.api_core import exceptions

        blob = self._bucket.blob(self._prefix + name)
        try:
            if limit is None:
                return blob.download_as_bytes(retry=self._retry)
            return blob.download_as_bytes(start=0, end=limit - 1, retry=self._retry)
        except exceptions.NotFound:
            return None
        except exceptions.RequestRangeNotSatisfiable:
            # A range request on an empty object.
            return b""
        except exceptions.Forbidden:
            raise StorageError(f"no permission to read {self.uri}/{name}") from None


class LocalStorage:
    """A local folder with the same interface, for tests and users without a bucket."""

    def __init__(self, path: str) -> None:
        self.root = Path(path.removeprefix("file://")).expanduser().resolve()
        self.uri = str(self.root)

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        if not self.root.is_dir():
            raise StorageError(f"source folder {self.uri} does not exist")
        # Walk only below the deepest folder named by the prefix.
        folder = self.root.joinpath(*prefix.split("/")[:-1])
        if not folder.is_dir():
            return
        names = []
        for dirpath, _, filenames in os.walk(folder):
            for filename in filenames:
                name = Path(dirpath, filename).relative_to(self.root).as_posix()
                if name.startswith(prefix):
                    names.append(name)
        for name in sorted(names):
            stat = (self.root / name).stat()
            yield ObjectInfo(name, stat.st_size, stat.st_mtime_ns, stat.st_mtime)

    def read_chunks(self, info: ObjectInfo, chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
        with open(self.root / info.name, "rb") as stream:
            while chunk := stream.read(chunk_bytes):
                yield chunk

    def read(self, name: str, limit: int | None = None) -> bytes | None:
        # A name that climbs out of the source ("../x", "/x") names no creative. Checked on the
        # name, not with resolve(): a realpath per creative was a tenth of reading 100,000 of them
        # (so a symlink the source's owner put inside it is followed, as a bucket has none).
        relative = os.path.normpath(name)
        if os.path.isabs(relative) or relative == ".." or relative.startswith("../"):
            return None
        try:
            with open(self.root / relative, "rb") as stream:
                return stream.read(-1 if limit is None else limit)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None


def open_storage(source: str) -> Storage:
    """The storage for a dataset source: ``gs://bucket/prefix``, ``file:///path`` or a path.

    Raises:
        StorageError: a malformed gs:// URL, an unreachable emulator, or no credentials.
    """
    if source.startswith("gs://"):
        return GcsStorage(source)
    if "://" in source and not source.startswith("file://"):
        raise StorageError(f"dataset.source {source!r}: only gs://, file:// or a local path")
    return LocalStorage(source)
