"""Unit tests of creative checks and the bounded creative cache."""

import io

from PIL import Image

from components.ingest.creatives import CreativeCache
from tests.components.ingest import dataset as ds
from trainer import rows
from trainer.rows import image_problem


def encoded(format_name: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (6, 6), (10, 20, 30)).save(buffer, format=format_name)
    return buffer.getvalue()


def test_png_and_jpeg_decode():
    assert image_problem(encoded("PNG")) is None
    assert image_problem(encoded("JPEG")) is None


def test_other_formats_truncated_files_and_garbage_are_problems():
    assert "GIF image, expected PNG or JPEG" in image_problem(encoded("GIF"))
    png = encoded("PNG")
    assert "not a decodable image" in image_problem(png[: len(png) // 2])
    assert "not a decodable image" in image_problem(b"hello")
    assert "not a decodable image" in image_problem(b"")


def test_cache_fetches_each_creative_once_and_remembers_verdicts():
    store = {"good.png": ds.png(), "bad.png": b"nope"}
    calls = []

    def fetch(name):
        calls.append(name)
        return store.get(name)

    cache = CreativeCache(fetch)
    for _ in range(3):
        assert cache.get("good.png").data == store["good.png"]
        assert cache.get("bad.png").rejected.reason == rows.UNDECODABLE_IMAGE
        assert cache.get("gone.png").rejected == rows.Rejected(rows.MISSING_CREATIVE, "no creative gone.png")
    assert calls == ["good.png", "bad.png", "gone.png"]


def test_cache_evicts_least_recently_used_past_its_byte_budget():
    images = {f"{i}.png": ds.png(shade=i) for i in range(4)}
    size = max(len(data) for data in images.values())
    calls = []

    def fetch(name):
        calls.append(name)
        return images[name]

    cache = CreativeCache(fetch, max_bytes=2 * size)
    for name in ["0.png", "1.png", "0.png", "2.png", "0.png", "1.png"]:
        assert cache.get(name).data == images[name]
    # "1.png" was least recently used when "2.png" came in, so it is fetched again.
    assert calls == ["0.png", "1.png", "2.png", "1.png"]


def test_missing_creatives_do_not_grow_the_cache_without_bound():
    cache = CreativeCache(lambda name: None, max_entries=100)

    for i in range(1_000):
        assert cache.get(f"creatives/ad_{i}.png").rejected.reason == rows.MISSING_CREATIVE

    assert len(cache._entries) == 100  # noqa: SLF001 - the bound is the behaviour under test
