"""Ad creatives as small PNGs whose pixels, and only they, show three click-relevant traits.

- warm: background and shapes take red/orange/yellow hues, otherwise blue/cyan/green ones;
- high contrast: shapes far from the background in brightness (HSV value, the largest channel),
  otherwise within a few percent of it with a similar saturation;
- call to action: a near-white rounded button with a dark label in the bottom band;
  without it the bottom band is plain background. Decorative shapes stay in the top band.
Backgrounds and shapes are always saturated, so only the button is ever near-white.
"""

from __future__ import annotations

import colorsys
import io

import numpy as np
from PIL import Image, ImageDraw

WARM_HUES = (-0.06, 0.14)  # as a fraction of the colour wheel: red through yellow
COOL_HUES = (0.47, 0.69)  # cyan through blue
TOP_BAND = 0.62  # decorative shapes stay above this fraction of the height
BUTTON_BOX = (0.16, 0.72, 0.84, 0.92)  # left, top, right, bottom as fractions of the size
BUTTON_FILL = (248, 248, 248)
LABEL_FILL = (30, 30, 30)


def _rgb(hue: float, saturation: float, value: float) -> tuple[int, int, int]:
    red, green, blue = colorsys.hsv_to_rgb(hue % 1.0, saturation, value)
    return round(red * 255), round(green * 255), round(blue * 255)


def render_creative(warm: bool, high_contrast: bool, cta: bool, size: int,
                    rng: np.random.Generator) -> bytes:
    """A `size` x `size` RGB PNG showing the given traits, with a random layout from `rng`."""
    hue = rng.uniform(*(WARM_HUES if warm else COOL_HUES))
    saturation = rng.uniform(0.6, 0.9)
    if high_contrast:
        dark_background = rng.random() < 0.5
        background_value = rng.uniform(0.15, 0.3) if dark_background else rng.uniform(0.85, 0.95)
    else:
        background_value = rng.uniform(0.5, 0.7)
    image = Image.new("RGB", (size, size), _rgb(hue, saturation, background_value))
    draw = ImageDraw.Draw(image)
    top = TOP_BAND * size
    for index in range(int(rng.integers(2, 5))):
        if high_contrast:
            value = rng.uniform(0.9, 1.0) if background_value < 0.5 else rng.uniform(0.1, 0.2)
            shape_saturation = rng.uniform(0.5, 0.9)
        else:
            value = background_value + rng.choice([-1, 1]) * rng.uniform(0.04, 0.08)
            shape_saturation = saturation + rng.uniform(-0.05, 0.05)
        fill = _rgb(hue + rng.uniform(-0.03, 0.03), shape_saturation, value)
        # The first shape is large, so the contrast shows at any downscaled size.
        radius = (rng.uniform(0.17, 0.24) if index == 0 else rng.uniform(0.06, 0.14)) * size
        x = rng.uniform(radius, size - radius)
        y = rng.uniform(radius, max(radius, top - radius))
        box = (x - radius, y - radius, x + radius, y + radius)
        if rng.random() < 0.5:
            draw.ellipse(box, fill=fill)
        else:
            draw.rectangle(box, fill=fill)
    if cta:
        left, upper, right, lower = (fraction * size for fraction in BUTTON_BOX)
        draw.rounded_rectangle((left, upper, right, lower), radius=size * 0.05, fill=BUTTON_FILL)
        middle = (upper + lower) / 2
        draw.rectangle((size * 0.32, middle - size * 0.025, size * 0.68, middle + size * 0.025),
                       fill=LABEL_FILL)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
