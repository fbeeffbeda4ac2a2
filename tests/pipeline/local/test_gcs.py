"""The emulator lifecycle, folder uploads, and their CLI commands, over real HTTP."""

import os
import signal
import subprocess
import sys
import urllib.request

import pytest
from google.cloud import storage

from components.ingest.storage import EMULATOR_ENV, StorageError
from pipeline.cli import main
from pipeline.local.gcs import emulator, upload_dir

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def gcs_host():
    with emulator() as host:
        yield host


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "demo-data"
    (root / "impressions" / "2026-10").mkdir(parents=True)
    (root / "impressions" / "2026-10" / "impressions-00000-of-00001.csv").write_text("a,b\n1,2\n")
    (root / "creatives").mkdir()
    (root / "creatives" / "ad_1.png").write_bytes(b"\x89PNG fake")
    return root


def objects(bucket):
    client = storage.Client()
    return {b.name: b.download_as_bytes() for b in client.list_blobs(bucket)}


def test_emulator_sets_and_restores_the_environment(monkeypatch):
    monkeypatch.setenv(EMULATOR_ENV, "http://previous:1")
    with emulator() as host:
        assert os.environ[EMULATOR_ENV] == host
        assert host.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(f"{host}/storage/v1/b") as response:
            assert response.status == 200
    assert os.environ[EMULATOR_ENV] == "http://previous:1"
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{host}/storage/v1/b", timeout=2)


def test_emulator_keeps_buckets_in_a_root_folder_across_restarts(tmp_path, folder):
    with emulator(root=str(tmp_path / "buckets")):
        upload_dir(folder, "gs://kept/p")
    with emulator(root=str(tmp_path / "buckets")):
        assert set(objects("kept")) == {"p/impressions/2026-10/impressions-00000-of-00001.csv", "p/creatives/ad_1.png"}


def test_upload_dir_creates_the_bucket_and_keeps_relative_paths(gcs_host, folder):
    result = upload_dir(folder, "gs://fresh-bucket/clicks/demo/")
    assert result.created_bucket and result.files == 2 and result.bytes == 17
    assert objects("fresh-bucket") == {
        "clicks/demo/impressions/2026-10/impressions-00000-of-00001.csv": b"a,b\n1,2\n",
        "clicks/demo/creatives/ad_1.png": b"\x89PNG fake",
    }
    (folder / "creatives" / "ad_1.png").write_bytes(b"\x89PNG new")
    again = upload_dir(folder, "gs://fresh-bucket/clicks/demo")
    assert not again.created_bucket
    assert objects("fresh-bucket")["clicks/demo/creatives/ad_1.png"] == b"\x89PNG new"


def test_upload_dir_errors_name_the_problem(gcs_host, tmp_path, folder):
    with pytest.raises(StorageError, match="is not a folder"):
        upload_dir(tmp_path / "missing", "gs://bkt-one/p")
    with pytest.raises(StorageError, match="'s3://b1/p' is not a gs://BUCKET/PREFIX URL"):
        upload_dir(folder, "s3://b1/p")
    with pytest.raises(StorageError, match="'Bad_Bucket' is not a valid bucket name"):
        upload_dir(folder, "gs://Bad_Bucket/p")
    (tmp_path / "empty").mkdir()
    with pytest.raises(StorageError, match="holds no files"):
        upload_dir(tmp_path / "empty", "gs://bkt-one/p")


def test_cli_upload_reports_success_and_user_errors_in_one_line(gcs_host, folder, tmp_path, capsys):
    assert main(["data", "upload", str(folder), "gs://cli-bucket/x"]) == 0
    assert "uploaded 2 files, 0.0 MB to gs://cli-bucket/x (bucket created)" in capsys.readouterr().out
    assert main(["data", "upload", str(tmp_path / "nope"), "gs://cli-bucket/x"]) == 1
    error = capsys.readouterr().err
    assert error.startswith("clickpipe: ") and "nope is not a folder" in error and error.count("\n") == 1


def test_cli_upload_names_an_emulator_that_is_not_running(folder, capsys, monkeypatch):
    monkeypatch.setenv(EMULATOR_ENV, "http://127.0.0.1:9")
    assert main(["data", "upload", str(folder), "gs://bkt-two/x"]) == 1
    error = capsys.readouterr().err
    assert "no storage emulator answers at STORAGE_EMULATOR_HOST=http://127.0.0.1:9" in error
    assert "clickpipe gcs emulator" in error and "Traceback" not in error


def test_cli_emulator_runs_in_the_foreground_until_interrupted(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "gcs", "emulator", "--port", "0", "--root", str(tmp_path / "b")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # As a shell starts a background job: SIGINT ignored, so Python alone would not stop.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        process.stdout.readline()
        export = process.stdout.readline().strip()
        assert export.startswith(f"export {EMULATOR_ENV}=http://127.0.0.1:")
        host = export.split("=", 1)[1]
        with urllib.request.urlopen(f"{host}/storage/v1/b") as response:
            assert response.status == 200
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert "GCS emulator stopped" in out
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{host}/storage/v1/b", timeout=2)


def test_an_emulator_with_latency_holds_requests_in_parallel_and_fetches_keep_their_order(tmp_path):
    from components.ingest.creatives import fetch_in_order
    from components.ingest.storage import GcsStorage
    from pipeline.local.latency import LatencyStats

    names = [f"creatives/ad_{i:03d}.png" for i in range(60)]
    for name in names:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(name.encode())
    stats = LatencyStats()
    with emulator(latency=0.03, stats=stats):
        upload_dir(tmp_path, "gs://latency-test/month", workers=4)
        storage = GcsStorage("gs://latency-test/month")
        before = stats.requests
        found = list(fetch_in_order([*names, "creatives/gone.png"], storage.read, workers=12))
    assert found == [(name, name.encode()) for name in names] + [("creatives/gone.png", None)]
    # Every read went through the proxy, up to 12 at once and never more.
    assert stats.requests - before == len(names) + 1
    assert 1 < stats.most_in_flight <= 12
