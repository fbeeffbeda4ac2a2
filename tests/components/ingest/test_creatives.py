"""Creatives of a run: parallel fetches in order and in bounds, each distinct content decoded once."""

from __future__ import annotations

import random
import threading
import time

import pytest

from components.ingest import creatives as module
from components.ingest.creatives import fetch_in_order, fetch_pool, prepare_creatives, stored_creatives_fingerprint
from components.ingest.storage import LocalStorage, open_storage
from tests.bad_creatives import bad_creatives
from tests.components.ingest import dataset as ds
from trainer import images, rows

pytestmark = pytest.mark.unit


class Recorder:
    """A fetch that sleeps a little, and records how many calls overlap and how many results wait."""

    def __init__(self, store: dict[str, bytes]):
        self.store = store
        self.lock = threading.Lock()
        self.running = self.most_running = 0
        self.started = self.taken = self.most_waiting = 0
        self.calls: list[str] = []

    def fetch(self, name: str) -> bytes | None:
        with self.lock:
            self.calls.append(name)
            self.started += 1
            self.running += 1
            self.most_running = max(self.most_running, self.running)
            self.most_waiting = max(self.most_waiting, self.started - self.taken)
        time.sleep(random.uniform(0.0, 0.004))
        with self.lock:
            self.running -= 1
        return self.store.get(name)


def test_fetches_overlap_up_to_the_bound_and_results_keep_the_order_given():
    names = [f"creatives/{i}.png" for i in range(300)]
    recorder = Recorder({name: name.encode() for name in names})
    found = []
    for name, data in fetch_in_order(names, recorder.fetch, workers=8):
        recorder.taken += 1
        found.append((name, data))
    assert found == [(name, name.encode()) for name in names]
    assert sorted(recorder.calls) == sorted(names)
    # Parallel, never past the bound, and never more than the bound fetched ahead of the reader.
    assert 1 < recorder.most_running <= 8
    assert recorder.most_waiting <= 8 + 1


def test_a_failing_fetch_stops_the_run_with_its_error():
    def fetch(name):
        if name == "b":
            raise RuntimeError("storage said no")
        return b"x"

    with pytest.raises(RuntimeError, match="storage said no"):
        list(fetch_in_order(["a", "b", "c"], fetch, workers=2))


def test_each_name_is_fetched_once_and_each_distinct_content_decoded_once(monkeypatch):
    decoded = []
    real = images.thumbnails

    def counting(creatives, size, problems=None):
        decoded.extend(creatives)
        return real(creatives, size, problems)

    monkeypatch.setattr(images, "thumbnails", counting)
    store = {"a.png": ds.png(shade=10), "same-as-a.png": ds.png(shade=10), "b.png": ds.png(shade=200),
             "broken.png": ds.png()[:20]}
    recorder = Recorder(store)
    names = [*store, "gone.png"]
    prepared = dict(prepare_creatives(names, recorder.fetch, size=8, workers=4))
    assert sorted(recorder.calls) == sorted(names)
    assert len(decoded) == 3 and store["a.png"] in decoded
    assert prepared["a.png"].thumbnail == prepared["same-as-a.png"].thumbnail
    assert prepared["a.png"].digest == prepared["same-as-a.png"].digest != prepared["b.png"].digest
    assert prepared["broken.png"].rejected.reason == rows.UNDECODABLE_IMAGE
    assert prepared["gone.png"].rejected == rows.Rejected(rows.MISSING_CREATIVE, "no creative gone.png")


def test_creatives_are_decoded_in_bounded_batches(monkeypatch):
    batches = []
    real = images.thumbnails
    monkeypatch.setattr(module, "DECODE_BATCH", 5)

    def counting(creatives, size, problems=None):
        batches.append(len(creatives))
        return real(creatives, size, problems)

    monkeypatch.setattr(images, "thumbnails", counting)
    store = {f"{i}.png": ds.png(shade=i) for i in range(12)}
    assert len(list(prepare_creatives(list(store), store.get, size=4, workers=3))) == 12
    assert batches == [5, 5, 2]


@pytest.mark.parametrize("name", sorted(bad_creatives()))
def test_each_bad_creative_gets_its_reason(name):
    data, phrase = bad_creatives()[name]
    [(_, creative)] = prepare_creatives(["c.jpg"], {"c.jpg": data}.get, size=32)
    assert creative.thumbnail is None
    assert creative.rejected.reason == rows.UNDECODABLE_IMAGE and phrase in creative.rejected.detail


def test_the_stored_creatives_fingerprint_follows_content_not_names(tmp_path):
    ds.write_creatives(tmp_path, ["ad_0", "ad_1"])
    storage, registry = LocalStorage(str(tmp_path)), ds.registry()
    before = stored_creatives_fingerprint(storage, registry)
    assert stored_creatives_fingerprint(storage, registry) == before
    path = tmp_path / "creatives" / "ad_1.png"
    path.write_bytes(ds.png(shade=77))
    assert stored_creatives_fingerprint(storage, registry) != before


def test_a_kept_pool_serves_every_call_and_an_abandoned_call_leaves_nothing_queued():
    names = [f"creatives/{i}.png" for i in range(40)]
    recorder = Recorder({name: name.encode() for name in names})
    with fetch_pool(4) as pool:
        for start in (0, 20):
            chunk = names[start:start + 20]
            assert list(fetch_in_order(chunk, recorder.fetch, workers=4, pool=pool)) == [
                (name, name.encode()) for name in chunk]
        threads = {thread.name for thread in threading.enumerate() if thread.name.startswith("fetch-creative")}
        assert 0 < len(threads) <= 4
    # One thread, four fetches asked ahead: the reader stops after the first result, and the
    # ones still queued behind the running one are cancelled, not fetched.
    calls = len(recorder.calls)
    with fetch_pool(1) as pool:
        stopped = fetch_in_order(names, recorder.fetch, workers=4, pool=pool)
        next(stopped)
        stopped.close()
    assert len(recorder.calls) - calls <= 2


def test_a_local_source_names_no_creative_outside_itself(tmp_path):
    (tmp_path / "source" / "creatives").mkdir(parents=True)
    (tmp_path / "source" / "creatives" / "a.png").write_bytes(b"a")
    (tmp_path / "secret.png").write_bytes(b"secret")
    storage = open_storage(str(tmp_path / "source"))
    assert storage.read("creatives/a.png") == b"a"
    assert storage.read("creatives/./a.png") == b"a"
    for name in ("../secret.png", "creatives/../../secret.png", str(tmp_path / "secret.png"), "creatives",
                 "creatives/missing.png", "creatives/a.png/x"):
        assert storage.read(name) is None, name


def test_files_are_hashed_and_their_headers_checked_on_the_fetch_threads(monkeypatch):
    import threading

    checked_on, hashed_on = [], []
    real_check, real_digest = images.header_problem, images.content_digest

    def check(data):
        checked_on.append(threading.current_thread().name)
        return real_check(data)

    def digest(data):
        hashed_on.append(threading.current_thread().name)
        return real_digest(data)

    monkeypatch.setattr(images, "header_problem", check)
    monkeypatch.setattr(images, "content_digest", digest)
    store = {f"{i}.png": ds.png(shade=i) for i in range(6)}
    with fetch_pool(3) as pool:
        prepared = dict(prepare_creatives(list(store), store.get, size=4, workers=3, pool=pool))
    assert all(creative.thumbnail for creative in prepared.values())
    assert len(checked_on) == 6 and all(name.startswith("fetch-creative") for name in checked_on)
    # Each file once on a fetch thread (the main thread hashes only the small thumbnails, for keys).
    assert sum(name.startswith("fetch-creative") for name in hashed_on) == 6
