"""Fixtures: one GCS emulator on loopback for the package, datasets uploaded to fresh buckets."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from pipeline.local.gcs import emulator, upload_dir

_buckets = itertools.count()


@pytest.fixture(scope="package")
def gcs_host():
    """The emulator's URL; STORAGE_EMULATOR_HOST points at it while the package's tests run."""
    with emulator() as host:
        yield host


@pytest.fixture
def upload(gcs_host):
    """Uploads a local dataset folder to a new bucket; returns its gs://BUCKET/PREFIX source."""

    def _upload(folder: Path, prefix: str = "clicks") -> str:
        url = f"gs://ingest-test-{next(_buckets)}/{prefix}"
        upload_dir(folder, url)
        return url

    return _upload
