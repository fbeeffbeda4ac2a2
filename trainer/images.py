"""A creative's pixels: what may be decoded, and the one function from its bytes to model input.

The model's image input is a function of the creative's content only, `model_input`:
`decode_image` (decode, resize to ``size`` x ``size``, round to one of `LEVELS` values per
channel) and then `encode_pixels` (a lossless PNG that says it is model input). The serving graph
runs it on the bytes a client sends (`trainer.preprocessing`); ingestion runs the same function
once per distinct creative (`thumbnails`) and stores its result, which the graph keeps as it is,
undecoded (`encode_pixels`'s PNG is recognised from its first bytes), so training sees the pixels
serving sees and Transform does not decode what ingestion made.

Why `LEVELS` = 64: at 32 px the two low bits of a channel are what a creative's JPEG artifacts
and photo grain leave after resizing, not something an ad's look is made of; without them a
photo-like banner's stored input is 1.5x smaller (1,516 -> 1,019 bytes on average with zlib at
level 6; a flat icon's 359 -> 352), and the traits the model sees (hue, contrast, a near-white
button) move by 4% steps of brightness or more.

Before anything is decoded, `header_problem` reads the header only and refuses what would
mislead the model or exhaust memory: formats other than PNG and JPEG (a GIF included), an image
of more than `MAX_PIXELS` (a decompression bomb), a CMYK JPEG (whose inks TF reads as RGB) and
a PNG with an alpha channel (transparent pixels have no colour the model could see).
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import io
import struct
import zlib
from collections.abc import Sequence

IMAGE_FORMATS = ("PNG", "JPEG")
# The most pixels a creative may have: 4096 x 4096 (a 300x250 banner has 75,000).
MAX_PIXELS = 4096 * 4096
# The largest creative file read; larger ones are refused unread past this.
MAX_BYTES = 16 * 2**20
# JPEG scales libjpeg decodes at directly (1/1, 1/2, 1/4, 1/8 of each side).
_JPEG_RATIOS = (1, 2, 4, 8)
# Values a channel of the model's input takes (64: six bits; see the module docstring).
LEVELS = 64
# The private ancillary PNG chunk `encode_pixels` adds after IHDR: decoders skip it, the serving
# graph reads it as "already model input".
_MARK_TYPE = b"cpIn"
_MARK = b"clickpipe model input, 64 levels"
# zlib's level for the model input's PNG: 4 is its fastest level that still compresses a banner's
# 32 px input to within 2% of level 6's size, at 0.45x level 6's time (73 vs 163 us, 1,036 vs 1,021
# bytes on average over 256 of the generator's banners; icons 377 vs 351 bytes, 32 vs 37 us).
_PNG_LEVEL = 4
# What a training row carries instead of its creative's model input: this prefix and the first 32
# hex digits (128 bits) of the input's SHA-256; the inputs themselves are stored once per run,
# beside the rows (`trainer.thumbnail_table`).
THUMBNAIL_KEY_PREFIX = b"cpthumb:"
_KEY_DIGITS = 32
# What the trainer gives the model in place of a stored input: this prefix and the input's
# ``size`` x ``size`` x 3 pixels, decoded once per run (`trainer.thumbnail_table`), which `Pixels`
# takes as they are. Only the trainer makes it: sent to serving it is neither model input nor a
# key, so `model_input` tries to decode it and refuses it as an invalid image.
PIXELS_PREFIX = b"cppixels:"
# Modes of a PNG that carries transparency.
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")


def content_digest(data: bytes) -> str:
    """The SHA-256 of a creative's bytes, in hex: what decides whether two creatives are one."""
    return hashlib.sha256(data).hexdigest()


def thumbnail_key(thumbnail: bytes) -> bytes:
    """The key a training row names a creative's model input by: a digest of that input, so
    two creatives that make the same input share one key and a changed creative gets another."""
    return THUMBNAIL_KEY_PREFIX + content_digest(thumbnail)[:_KEY_DIGITS].encode()


def header_problem(data: bytes) -> str | None:
    """Why `data` is not a creative the model takes, from its header alone; None when it may be.

    Decodes no pixel: the size is read before any memory is spent on it.
    """
    from PIL import Image, UnidentifiedImageError

    if len(data) > MAX_BYTES:
        return f"more than the {MAX_BYTES:,} bytes a creative may have"
    try:
        with Image.open(io.BytesIO(data)) as image:
            kind, mode, (width, height) = image.format, image.mode, image.size
            transparency = "transparency" in image.info
    except UnidentifiedImageError:
        return "not a PNG or JPEG image (not a format Pillow knows)"
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        return f"not a decodable image ({exc})"
    if kind not in IMAGE_FORMATS:
        return f"{kind} image, expected PNG or JPEG"
    if width * height > MAX_PIXELS:
        return (f"{width}x{height} pixels ({width * height:,}), above the {MAX_PIXELS:,} a creative "
                "may have (a decompression bomb is refused before it is decoded)")
    if mode == "CMYK":
        return "CMYK JPEG: the model reads RGB; save it as an RGB JPEG"
    if kind == "PNG" and (mode in _ALPHA_MODES or transparency):
        return "PNG with an alpha channel: transparent pixels have no colour; flatten it onto its background"
    return None


def _decode_one(data, size: int):
    import tensorflow as tf

    def jpeg():
        shape = tf.io.extract_jpeg_shape(data)
        shortest = tf.minimum(shape[0], shape[1])
        # libjpeg's DCT scaling: the smallest scale that keeps the shorter side at least `size`.
        branch = tf.add_n([tf.cast(shortest >= ratio * size, tf.int32) for ratio in _JPEG_RATIOS[1:]])
        return tf.switch_case(branch, [
            functools.partial(tf.io.decode_jpeg, data, channels=3, ratio=ratio) for ratio in _JPEG_RATIOS
        ])

    def other():
        return tf.io.decode_image(data, channels=3, expand_animations=False)

    image = tf.cond(tf.io.is_jpeg(data), jpeg, other)
    image.set_shape([None, None, 3])
    resized = tf.round(tf.clip_by_value(tf.image.resize(image, [size, size]), 0, 255))
    # The middle of each of the LEVELS bins: the same value whichever pixel in the bin it was.
    step = 256 // LEVELS
    return tf.cast(tf.floor(resized / step) * step + step // 2, tf.uint8)


def decode_image(encoded, size: int):
    """PNG/JPEG bytes, one per row (a string tensor), as ``[batch, size, size, 3]`` uint8 pixels,
    each channel the middle of one of `LEVELS` equal bins of 0-255.

    Bilinear resizing of the decoded image; a JPEG at least twice `size` on its shorter side is
    first decoded at 1/2, 1/4 or 1/8 scale by libjpeg itself (3-4x less work for a banner).
    """
    import tensorflow as tf

    return tf.map_fn(functools.partial(_decode_one, size=size), encoded,
                     fn_output_signature=tf.TensorSpec([size, size, 3], tf.uint8))


def model_input(encoded, size: int):
    """PNG/JPEG bytes, one per row (a string tensor), as the model's input: one lossless PNG of
    ``size`` x ``size`` RGB pixels per row, `encode_pixels(decode_image(...))`.

    What `encode_pixels` made at this size (as ingestion stores every creative) is kept as it is,
    undecoded: it already is that function's result, which maps to itself. So is a
    `thumbnail_key` (what a training row carries): the trainer puts the input it names in its
    place before the model sees it; anywhere else it fails in the model as an invalid PNG.
    """
    import tensorflow as tf

    header = _model_input_header(size)
    ready = tf.cast((tf.strings.substr(encoded, 0, len(header)) == header)
                    | (tf.strings.substr(encoded, 0, len(THUMBNAIL_KEY_PREFIX)) == THUMBNAIL_KEY_PREFIX),
                    tf.int32)
    rows = tf.range(tf.shape(encoded)[0])
    to_make, kept = tf.dynamic_partition(encoded, ready, 2)
    made = encode_pixels(decode_image(to_make, size))
    return tf.dynamic_stitch(tf.dynamic_partition(rows, ready, 2), [made, kept])


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _model_input_header(size: int) -> bytes:
    # PNG signature, IHDR (width, height, bit depth 8, colour type 2 = RGB, compression, filter and
    # interlace methods 0: what TF's encoder writes for uint8 RGB), then the mark.
    ihdr = struct.pack(">II", size, size) + bytes([8, 2, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(_MARK_TYPE, _MARK)


def encode_pixels(pixels):
    """``[batch, size, size, 3]`` uint8 pixels as one lossless PNG per row (what `Pixels` decodes),
    marked after its IHDR chunk as model input."""
    import tensorflow as tf

    png = tf.map_fn(functools.partial(tf.io.encode_png, compression=_PNG_LEVEL), pixels,
                    fn_output_signature=tf.TensorSpec([], tf.string))
    # Signature (8 bytes) and IHDR (25): the mark goes right after them.
    end = 8 + 25
    return tf.strings.join([tf.strings.substr(png, 0, end), _chunk(_MARK_TYPE, _MARK),
                            tf.strings.substr(png, end, -1)])


def input_pixels(values, size: int):
    """The model's image input, one string per row (`encode_pixels`'s PNG, or `PIXELS_PREFIX` and
    the pixels it would decode to), as ``[batch, size, size, 3]`` uint8 pixels."""
    import tensorflow as tf

    decoded = tf.cast(tf.strings.substr(values, 0, len(PIXELS_PREFIX)) == PIXELS_PREFIX, tf.int32)
    rows = tf.range(tf.shape(values)[0])
    pngs, given = tf.dynamic_partition(values, decoded, 2)
    from_png = tf.map_fn(lambda png: tf.io.decode_png(png, channels=3), pngs,
                         fn_output_signature=tf.TensorSpec([size, size, 3], tf.uint8))
    length = size * size * 3
    # Pixels of another size would be cut or padded by decode_raw: refused, as a PNG's would be.
    check = tf.debugging.assert_equal(
        tf.strings.length(given), len(PIXELS_PREFIX) + length,
        message=f"decoded pixels that are not {size}x{size}x3")
    with tf.control_dependencies([check]):
        raw = tf.io.decode_raw(tf.strings.substr(given, len(PIXELS_PREFIX), length), tf.uint8,
                               fixed_length=length)
    return tf.dynamic_stitch(tf.dynamic_partition(rows, decoded, 2),
                             [from_png, tf.reshape(raw, [-1, size, size, 3])])


def pixels_value(pixels) -> bytes:
    """One creative's ``[size, size, 3]`` uint8 pixels (a numpy array) as the value
    `input_pixels` takes without decoding."""
    return PIXELS_PREFIX + pixels.tobytes()


@functools.cache
def _thumbnail_graph(size: int):
    import tensorflow as tf

    # Dropped while TensorFlow is still loaded: a traced function freed at interpreter exit complains.
    atexit.register(_thumbnail_graph.cache_clear)
    # Always decoded, even a PNG `model_input` would keep: what ingestion stores is proven to decode.
    return tf.function(lambda encoded: encode_pixels(decode_image(encoded, size)),
                       input_signature=[tf.TensorSpec([None], tf.string)])


def thumbnails(creatives: Sequence[bytes], size: int,
               problems: Sequence[str | None] | None = None) -> list[bytes | str]:
    """Each creative's model input (`model_input`, always decoded), or why it has none.

    Args:
        creatives: creative file bytes.
        size: the model's image size.
        problems: each creative's `header_problem`, when the caller has them already.

    Returns:
        Per creative, in order: the lossless PNG of its ``size`` x ``size`` pixels, or a str
        saying why it is refused (`header_problem`, or the decoder's error).
    """
    if problems is None:
        problems = [header_problem(data) for data in creatives]
    found: list[bytes | str] = [problem or b"" for problem in problems]
    usable = [i for i, item in enumerate(found) if not item]
    for index, result in zip(usable, _decoded([creatives[i] for i in usable], size), strict=True):
        found[index] = result
    return found


def _decoded(creatives: list[bytes], size: int) -> list[bytes | str]:
    """`thumbnails` of creatives that passed the header checks; a batch that fails is halved
    until the creatives that do not decode are found."""
    import tensorflow as tf

    if not creatives:
        return []
    try:
        return list(_thumbnail_graph(size)(tf.constant(creatives)).numpy())
    except tf.errors.InvalidArgumentError as exc:
        if len(creatives) == 1:
            return [f"not a decodable image ({exc.message.splitlines()[0].split('}}')[-1].strip()})"]
    middle = len(creatives) // 2
    return _decoded(creatives[:middle], size) + _decoded(creatives[middle:], size)


def image_problem(data: bytes) -> str | None:
    """Why `data` is not a creative the model takes (as `thumbnails` decides), or None."""
    [result] = thumbnails([data], 1)
    return result if isinstance(result, str) else None
