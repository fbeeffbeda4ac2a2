"""gs:// sources against the GCS emulator over HTTP: listing, reads, spans, retries, errors."""

import pytest

from components.ingest.span_selection import SpanError, resolve_spans
from components.ingest.storage import GcsStorage, StorageError
from tests.components.ingest import dataset as ds
from tests.components.ingest.fault_proxy import RESET, STATUS_429, STATUS_503, FaultPlan, fault_proxy

pytestmark = pytest.mark.integration

PATTERN = "impressions/{span}/*.csv"


@pytest.fixture
def gcs_source(tmp_path, upload):
    root = tmp_path / "data"
    ds.write_months(root, {"2026-09": 5, "2026-10": 7})
    return upload(root), root


def test_lists_and_reads_objects_relative_to_the_prefix(gcs_source):
    url, root = gcs_source
    storage = GcsStorage(url)
    names = [info.name for info in storage.list("creatives/")]
    assert names == ["creatives/ad_0.png", "creatives/ad_1.png", "creatives/ad_2.png"]
    info = next(storage.list("impressions/2026-10/"))
    local = (root / info.name).read_bytes()
    assert info.size == len(local) and info.generation > 0
    assert b"".join(storage.read_chunks(info, chunk_bytes=100)) == local
    assert storage.read("creatives/ad_1.png") == (root / "creatives/ad_1.png").read_bytes()
    assert storage.read("creatives/ad_404.png") is None


def test_span_selection_over_gcs(gcs_source):
    url, _ = gcs_source
    latest = resolve_spans(url, PATTERN, "latest", 1)
    assert latest.months == ("2026-10",) and latest.span == 202610
    assert all(f.name.startswith("impressions/2026-10/") for f in latest.files)
    assert resolve_spans(url, PATTERN, "latest", 2).months == ("2026-09", "2026-10")
    assert resolve_spans(url, PATTERN, "2026-09", 1).months == ("2026-09",)


def test_missing_span_bucket_and_prefix_are_named(gcs_source, gcs_host):
    url, _ = gcs_source
    with pytest.raises(SpanError, match=r"span 2026-12 not found: no impressions/2026-12/\*\.csv under gs://"):
        resolve_spans(url, PATTERN, "2026-12", 1)
    with pytest.raises(SpanError, match="bucket 'no-such-bucket' does not exist"):
        resolve_spans("gs://no-such-bucket/clicks", PATTERN, "latest", 1)
    bucket = url.split("/")[2]
    with pytest.raises(SpanError, match=f"nothing found under gs://{bucket}/elsewhere: check dataset.source"):
        resolve_spans(f"gs://{bucket}/elsewhere", PATTERN, "latest", 1)


def test_an_unreachable_emulator_is_named(monkeypatch):
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://127.0.0.1:9")
    with pytest.raises(StorageError, match="no storage emulator answers at STORAGE_EMULATOR_HOST=http://127.0.0.1:9"):
        GcsStorage("gs://bucket/prefix")


def test_transient_errors_are_retried(gcs_source, gcs_host, monkeypatch):
    url, root = gcs_source
    faults = [STATUS_503, RESET, STATUS_429, STATUS_503, RESET, STATUS_429]
    # Faults on listings and downloads, not on the emulator health check.
    plan = FaultPlan(faults, every=2, selects=lambda method, path: path.count("/") > 3)
    with fault_proxy(gcs_host, plan) as proxy:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", proxy)
        storage = GcsStorage(url)
        infos = list(storage.list("impressions/"))
        contents = {i.name: b"".join(storage.read_chunks(i, chunk_bytes=64)) for i in infos}
        creatives = {n: storage.read(f"creatives/{n}") for n in ("ad_0.png", "ad_1.png", "ad_2.png")}
    assert plan.remaining == 0 and len(plan.injected) == len(faults)
    assert contents == {i.name: (root / i.name).read_bytes() for i in infos}
    assert creatives == {n: (root / "creatives" / n).read_bytes() for n in creatives}
