"""Ad creatives (PNG or JPEG, icons or banners) whose pixels, and only they, show three
click-relevant traits.

- warm: background and shapes take red/orange/yellow hues, otherwise blue/cyan/green ones;
- high contrast: shapes far from the background in brightness (HSV value, the largest channel),
  otherwise within a few percent of it with a similar saturation;
- call to action: a near-white rounded button with a dark label in the bottom band;
  without it the bottom band is plain background. Decorative shapes stay in the top band.
Backgrounds and shapes are always saturated, so only the button is ever near-white.

A "photo" texture adds what makes real banners heavy, a smooth light falloff and film grain,
under the call to action, with amplitudes small enough that the traits stay visible once the
creative is shrunk to the model's input.
"""

from __future__ import annotations

import colorsys
import functools
import io

import numpy as np
from PIL import Image, ImageDraw

WARM_HUES = (-0.06, 0.14)  # as a fraction of the colour wheel: red through yellow
COOL_HUES = (0.47, 0.69)  # cyan through blue
TOP_BAND = 0.62  # decorative shapes stay above this fraction of the height
BUTTON_BOX = (0.16, 0.72, 0.84, 0.92)  # left, top, right, bottom as fractions of the size
BUTTON_FILL = (248, 248, 248)
LABEL_FILL = (30, 30, 30)
# Photo texture: a light falloff of this relative strength over a coarse grid, plus uniform
# grain of at most this many levels, cut from a field of this many pixels a side (creatives are
# at most 512 a side) drawn once from its own seed.
_FALLOFF = 0.10
_FALLOFF_GRID = (5, 6)
_GRAIN = 10
_GRAIN_FIELD = 1024
_GRAIN_SEED = 24


def _rgb(hue: float, saturation: float, value: float) -> tuple[int, int, int]:
    red, green, blue = colorsys.hsv_to_rgb(hue % 1.0, saturation, value)
    return round(red * 255), round(green * 255), round(blue * 255)


def render_creative(warm: bool, high_contrast: bool, cta: bool, size: int,
                    rng: np.random.Generator, *, height: int = 0, texture: str = "flat",
                    image_format: str = "png", quality: int = 85) -> bytes:
    """An RGB creative showing the given traits, with a random layout from `rng`.

    Args:
        warm, high_contrast, cta: the traits to show.
        size: the width in pixels (and the height when `height` is 0).
        rng: the creative's own random stream.
        height: the height in pixels; 0 draws a square.
        texture: "flat" (solid fills, as icons) or "photo" (light falloff and grain).
        image_format: "png" or "jpeg".
        quality: the JPEG quality.
    """
    width, height = size, height or size
    short = min(width, height)
    hue = rng.uniform(*(WARM_HUES if warm else COOL_HUES))
    saturation = rng.uniform(0.6, 0.9)
    if high_contrast:
        dark_background = rng.random() < 0.5
        background_value = rng.uniform(0.15, 0.3) if dark_background else rng.uniform(0.85, 0.95)
    else:
        background_value = rng.uniform(0.5, 0.7)
    image = Image.new("RGB", (width, height), _rgb(hue, saturation, background_value))
    draw = ImageDraw.Draw(image)
    top = TOP_BAND * height
    for index in range(int(rng.integers(2, 5))):
        if high_contrast:
            value = rng.uniform(0.9, 1.0) if background_value < 0.5 else rng.uniform(0.1, 0.2)
            shape_saturation = rng.uniform(0.5, 0.9)
        else:
            value = background_value + rng.choice([-1, 1]) * rng.uniform(0.04, 0.08)
            shape_saturation = saturation + rng.uniform(-0.05, 0.05)
        fill = _rgb(hue + rng.uniform(-0.03, 0.03), shape_saturation, value)
        # The first shape is large, so the contrast shows at any downscaled size.
        radius = (rng.uniform(0.17, 0.24) if index == 0 else rng.uniform(0.06, 0.14)) * short
        x = rng.uniform(radius, width - radius)
        y = rng.uniform(radius, max(radius, top - radius))
        box = (x - radius, y - radius, x + radius, y + radius)
        if rng.random() < 0.5:
            draw.ellipse(box, fill=fill)
        else:
            draw.rectangle(box, fill=fill)
    if texture == "photo":
        # The photo under the design: the button is drawn on top, crisp, as real banners lay it out.
        image = _photo_texture(image, rng)
        draw = ImageDraw.Draw(image)
    if cta:
        left, right = BUTTON_BOX[0] * width, BUTTON_BOX[2] * width
        upper, lower = BUTTON_BOX[1] * height, BUTTON_BOX[3] * height
        draw.rounded_rectangle((left, upper, right, lower), radius=short * 0.05, fill=BUTTON_FILL)
        middle = (upper + lower) / 2
        draw.rectangle((width * 0.32, middle - height * 0.025, width * 0.68, middle + height * 0.025),
                       fill=LABEL_FILL)
    buffer = io.BytesIO()
    if image_format == "jpeg":
        image.save(buffer, format="JPEG", quality=quality)
    else:
        image.save(buffer, format="PNG")
    return buffer.getvalue()


def _photo_texture(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """The image under a smooth light falloff and per-pixel grain, as a photo's pixels vary."""
    width, height = image.size
    coarse = rng.normal(0.0, 1.0, _FALLOFF_GRID).astype(np.float32)
    falloff = np.asarray(Image.fromarray(coarse, mode="F").resize((width, height), Image.BICUBIC))
    # A window of a fixed grain field at a random offset: as random to the eye, far cheaper to draw.
    top, left = (int(rng.integers(_GRAIN_FIELD - side + 1)) for side in (height, width))
    grain = _grain_field()[top:top + height, left:left + width]
    pixels = np.asarray(image, dtype=np.float32) * (1.0 + _FALLOFF * np.clip(falloff, -2.0, 2.0))[..., None]
    return Image.fromarray(np.clip(np.rint(pixels + grain), 0, 255).astype(np.uint8), mode="RGB")


@functools.cache
def _grain_field() -> np.ndarray:
    return np.random.default_rng(_GRAIN_SEED).integers(-_GRAIN, _GRAIN + 1, (_GRAIN_FIELD, _GRAIN_FIELD, 3)).astype(
        np.float32)
