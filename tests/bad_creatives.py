"""Creatives the model must not take, one per reason, as ingestion and serving meet them."""

from __future__ import annotations

import io

from PIL import Image


def encoded(image: Image.Image, format_name: str, **options) -> bytes:
    """The image saved in `format_name`."""
    buffer = io.BytesIO()
    image.save(buffer, format=format_name, **options)
    return buffer.getvalue()


def banner(seed: int = 0) -> bytes:
    """A 300x250 JPEG banner with photo-like texture, as the generator writes them."""
    import numpy as np

    from datagen.creatives import render_creative

    return render_creative(True, True, True, 300, np.random.default_rng(seed), height=250,
                           texture="photo", image_format="jpeg")


def bad_creatives() -> dict[str, tuple[bytes, str]]:
    """Name -> (bytes, a phrase the refusal's detail must hold)."""
    jpeg = banner()
    return {
        "truncated_jpeg": (jpeg[: len(jpeg) // 2], "not a decodable image"),
        # 40 megapixels in a few hundred KB: a decompression bomb.
        "bomb": (encoded(Image.new("RGB", (8000, 5000), (200, 30, 30)), "JPEG", quality=20), "8000x5000 pixels"),
        "cmyk": (encoded(Image.new("CMYK", (300, 250), (0, 200, 200, 0)), "JPEG"), "CMYK JPEG"),
        "alpha": (encoded(Image.new("RGBA", (64, 64), (200, 30, 30, 100)), "PNG"), "PNG with an alpha channel"),
        "gif": (encoded(Image.new("RGB", (64, 64), (200, 30, 30)), "GIF"), "GIF image, expected PNG or JPEG"),
        "garbage": (b"not an image at all", "not a PNG or JPEG image"),
    }
