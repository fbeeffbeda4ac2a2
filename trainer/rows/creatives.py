"""Creatives: an image feature's path from its source column, inline images, and the check that
a creative is a PNG or JPEG the model takes, once per distinct creative (`trainer.images`:
the same header checks and decoder as ingestion's thumbnails)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from dataclasses import replace

from trainer import images
from trainer.features import Feature
from trainer.rows.rejections import MISSING_CREATIVE, UNDECODABLE_IMAGE, Rejected
from trainer.rows.table import ParsedRow, Table

IMAGE_FORMATS = images.IMAGE_FORMATS


def creative_paths(source, feature: Feature):
    """Each row's creative path (`uri_template` filled in), formatted once per distinct value."""
    import pyarrow as pa
    import pyarrow.compute as pc

    distinct = pc.unique(source)
    paths = pa.array([feature.uri_template.format(**{feature.source_column: v}) for v in distinct.to_pylist()])
    return paths.take(pc.index_in(source, value_set=distinct))


def inline_image(value) -> bytes | None:
    """Image bytes given inline: raw bytes, or TF Serving's ``{"b64": ...}``; else None.

    Raises:
        ValueError: a ``{"b64": ...}`` value that is not valid base64.
    """
    if isinstance(value, bytes):
        return value
    if isinstance(value, Mapping) and set(value) == {"b64"}:
        try:
            return base64.b64decode(value["b64"], validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise ValueError("the inline image is not valid base64") from None
    return None


def image_problem(data: bytes) -> str | None:
    """Why `data` is not a creative the model takes (`trainer.images.image_problem`: not a PNG
    or JPEG, a GIF, too many pixels, CMYK, alpha, or not decodable), or None when it is."""
    return images.image_problem(data)


def check_creative(name: str, data: bytes | None) -> Rejected | None:
    """Why a creative cannot be used (missing or undecodable), or None when it can."""
    if data is None:
        return Rejected(MISSING_CREATIVE, f"no creative {name}")
    problem = image_problem(data)
    return Rejected(UNDECODABLE_IMAGE, f"{name}: {problem}") if problem else None


def checked(fetch: Callable[[str], bytes | None]) -> Callable[[str], bytes | Rejected]:
    """`fetch` (a creative by path; None if missing) with each creative checked (`check_creative`)."""

    def creative(path: str) -> bytes | Rejected:
        data = fetch(path)
        return check_creative(path, data) or data

    return creative


def attach_images(table: Table, creative: Callable[[str], bytes | Rejected]) -> Table:
    """The table with every image attached; the rows of an unusable creative rejected.

    Args:
        table: parsed rows.
        creative: a checked creative by its path relative to the dataset source: its bytes,
            or why it cannot be used (see `checked`); called once per distinct creative.

    Returns:
        The table with `images` holding each accepted row's image bytes; the rows of a missing
        or undecodable creative (or inline image) move to `rejected`.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    rejected: dict[int, Rejected] = {}
    for name, column in table.images.items():
        for index, data in enumerate(column.to_pylist()):
            if (why := check_creative(name, data)) is not None:
                rejected.setdefault(index, why)
    images = dict(table.images)
    for name, paths in table.creatives.items():
        distinct = pc.unique(paths)
        found = [creative(path) for path in distinct.to_pylist()]
        index = pc.index_in(paths, value_set=distinct)
        for row, position in enumerate(index.to_pylist()):
            if isinstance(found[position], Rejected):
                rejected.setdefault(row, found[position])
        data = [b"" if isinstance(item, Rejected) else item for item in found]
        images[name] = pa.array(data, pa.binary()).take(index)
    return replace(table, creatives={}, images=images).without(rejected)


def row_images(row: ParsedRow, fetch: Callable[[str], bytes | None]) -> dict[str, bytes] | Rejected:
    """One row's images, checked as `attach_images` checks a table's; or why it is rejected."""
    done = attach_images(Table.of_row(row), checked(fetch))
    if done.rejected:
        return next(iter(done.rejected.values()))
    return {name: column[0].as_py() for name, column in done.images.items()}
