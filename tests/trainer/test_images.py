"""A creative's pixels: header checks before decoding, and the one function ingestion and the
serving graph share."""

from __future__ import annotations

import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tests.bad_creatives import bad_creatives, banner, encoded
from trainer import images

pytestmark = pytest.mark.unit

SIZE = 32


def icon(seed: int = 0) -> bytes:
    from datagen.creatives import render_creative

    return render_creative(False, True, False, 64, np.random.default_rng(seed))


def noise(width: int, height: int, format_name: str, seed: int = 0) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return encoded(Image.fromarray(pixels), format_name)


def pixels_of(png: bytes) -> np.ndarray:
    return tf.io.decode_png(png, channels=3).numpy()


def test_a_thumbnail_is_what_the_serving_graph_computes_and_its_size_is_fixed():
    creatives = [banner(0), banner(1), icon(), noise(300, 250, "PNG"), noise(500, 90, "JPEG")]
    made = images.thumbnails(creatives, SIZE)
    graph = images.encode_pixels(images.decode_image(tf.constant(creatives), SIZE)).numpy()
    assert made == list(graph)
    for thumbnail in made:
        assert pixels_of(thumbnail).shape == (SIZE, SIZE, 3)
        # Noise does not compress: the bound is the raw pixels plus PNG's framing.
        assert len(thumbnail) <= SIZE * SIZE * 3 + 200


def test_the_graph_maps_a_thumbnail_to_itself_so_training_sees_the_served_pixels():
    creatives = [banner(2), icon(3), noise(300, 250, "JPEG", 4), noise(SIZE, SIZE, "PNG", 5), noise(17, 90, "PNG", 6)]
    first = images.thumbnails(creatives, SIZE)
    again = images.thumbnails(first, SIZE)
    assert again == first
    served = images.decode_image(tf.constant(creatives), SIZE).numpy()
    stored = images.decode_image(tf.constant(first), SIZE).numpy()
    assert np.array_equal(served, stored)


def test_model_input_keeps_what_it_made_as_it_is_and_makes_the_others_in_order():
    creatives = [banner(11), icon(12), noise(SIZE, SIZE, "PNG", 13), noise(90, 17, "JPEG", 14)]
    stored = images.thumbnails(creatives, SIZE)
    mixed = [stored[0], creatives[1], stored[1], creatives[2], creatives[0], creatives[3]]
    made = images.model_input(tf.constant(mixed), SIZE).numpy().tolist()
    # A plain 32 px RGB PNG (creatives[2]) is a client's file like any other: decoded.
    assert made == [stored[0], stored[1], stored[1], stored[2], stored[0], stored[3]]
    assert images.model_input(tf.constant([], tf.string), SIZE).numpy().tolist() == []


def test_model_input_does_not_decode_what_says_it_is_model_input():
    ready = images.thumbnails([icon(15)], SIZE)[0]
    header = len(images._model_input_header(SIZE))
    undecodable = ready[:header] + b"not image data"
    assert images.model_input(tf.constant([undecodable]), SIZE).numpy().tolist() == [undecodable]
    with pytest.raises(tf.errors.InvalidArgumentError):
        images.encode_pixels(images.decode_image(tf.constant([undecodable]), SIZE)).numpy()
    # The same mark at another size is decoded and resized.
    other_size = images.thumbnails([icon(15)], SIZE + 1)[0]
    [made] = images.model_input(tf.constant([other_size]), SIZE).numpy()
    assert made != other_size and pixels_of(made).shape == (SIZE, SIZE, 3)


def test_model_input_keeps_a_training_rows_key_for_the_trainer_to_resolve():
    stored = images.thumbnails([banner(16), icon(17)], SIZE)
    keys = [images.thumbnail_key(thumbnail) for thumbnail in stored]
    assert len(set(keys)) == 2 and all(len(key) == 40 for key in keys)
    assert keys[0] == images.thumbnail_key(images.thumbnails([banner(16)], SIZE)[0])
    mixed = [keys[0], banner(16), keys[1]]
    assert images.model_input(tf.constant(mixed), SIZE).numpy().tolist() == [keys[0], stored[0], keys[1]]
    # Nothing but the trainer can read a key as pixels.
    with pytest.raises(tf.errors.InvalidArgumentError):
        tf.io.decode_png(keys[0]).numpy()


def test_the_model_sees_64_levels_a_channel_in_a_png_any_decoder_reads():
    creatives = [banner(16), icon(17), noise(300, 250, "PNG", 18)]
    pixels = images.decode_image(tf.constant(creatives), SIZE).numpy()
    step = 256 // images.LEVELS
    assert set(np.unique(pixels) % step) == {step // 2}
    assert len(np.unique(pixels)) <= images.LEVELS
    for thumbnail, expected in zip(images.thumbnails(creatives, SIZE), pixels, strict=True):
        with Image.open(io.BytesIO(thumbnail)) as image:
            assert np.array_equal(np.asarray(image.convert("RGB")), expected)


def test_resizing_to_the_size_an_image_has_is_the_identity():
    rng = np.random.default_rng(0)
    for size in (1, 7, 32, 64):
        pixels = rng.integers(0, 256, (3, size, size, 3)).astype(np.float32)
        assert np.array_equal(tf.image.resize(pixels, [size, size]).numpy(), pixels)


def test_a_large_jpeg_is_decoded_at_the_dct_scale_that_keeps_the_size():
    jpeg = banner(7)
    # 250 px on the shorter side: 250 >= 4 x 32 but < 8 x 32, so libjpeg decodes at 1/4 scale.
    scaled = tf.io.decode_jpeg(jpeg, channels=3, ratio=4)
    rounded = np.round(np.clip(tf.image.resize(scaled, [SIZE, SIZE]).numpy(), 0, 255))
    expected = (rounded // 4 * 4 + 2).astype(np.uint8)
    assert np.array_equal(images.decode_image(tf.constant([jpeg]), SIZE).numpy()[0], expected)


@pytest.mark.parametrize("name", sorted(bad_creatives()))
def test_each_bad_creative_is_refused_with_its_reason(name):
    data, phrase = bad_creatives()[name]
    [result] = images.thumbnails([data], SIZE)
    assert isinstance(result, str) and phrase in result
    assert images.image_problem(data) == result


def test_header_checks_refuse_before_any_pixel_is_decoded(monkeypatch):
    def no_decoding(*args):
        raise AssertionError("decoded")

    monkeypatch.setattr(images, "_decoded", no_decoding)
    for name in ("bomb", "cmyk", "alpha", "gif", "garbage"):
        data, phrase = bad_creatives()[name]
        assert phrase in images.header_problem(data)
    with pytest.raises(AssertionError, match="decoded"):
        images.thumbnails([icon()], SIZE)


def test_a_png_with_a_transparent_palette_entry_is_refused_and_an_opaque_one_taken():
    palette = Image.new("P", (16, 16), 1)
    palette.putpalette([0, 0, 0, 250, 20, 20] * 128)
    assert images.header_problem(encoded(palette, "PNG", transparency=0)) is not None
    assert images.header_problem(encoded(palette, "PNG")) is None


def test_a_creative_over_the_byte_limit_is_refused(monkeypatch):
    monkeypatch.setattr(images, "MAX_BYTES", 1000)
    assert "bytes a creative may have" in images.header_problem(banner())


def test_one_bad_creative_in_a_batch_costs_only_itself():
    truncated, _ = bad_creatives()["truncated_jpeg"]
    good = [banner(8), icon(9), banner(10)]
    made = images.thumbnails([good[0], truncated, good[1], truncated, good[2]], SIZE)
    assert [isinstance(item, str) for item in made] == [False, True, False, True, False]
    assert [made[0], made[2], made[4]] == images.thumbnails(good, SIZE)


def test_the_content_digest_decides_not_the_name():
    assert images.content_digest(banner(1)) == images.content_digest(banner(1))
    assert images.content_digest(banner(1)) != images.content_digest(banner(2))
