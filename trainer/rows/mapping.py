"""One row given by column name (a JSON impression, or a local row) through the contract."""

from __future__ import annotations

from collections.abc import Mapping

from trainer.features import FeatureRegistry, Kind
from trainer.rows.creatives import inline_image
from trainer.rows.months import by_month
from trainer.rows.rejections import BAD_VALUE_TYPE, UNDECODABLE_IMAGE, Rejected, shown
from trainer.rows.table import ParsedRow
from trainer.rows.values import typed


def parse_mapping(registry: FeatureRegistry, row: Mapping, *, with_label: bool = True) -> ParsedRow | Rejected:
    """A typed row from raw values by column name (a JSON impression, or a local row).

    Values may be strings as in a CSV file, or JSON numbers and null; an image feature may be
    given inline under its own name (bytes or ``{"b64": ...}``) instead of by its source column.
    The example id and passthrough columns are optional when `with_label` is False (serving).
    A missing column, or a value that is a JSON list or object, is refused before any value is
    checked.
    """
    inline = _inline_images(registry, row)
    if isinstance(inline, Rejected):
        return inline
    columns = _columns(registry, row, inline, with_label)
    if isinstance(columns, Rejected):
        return columns
    if with_label and registry.span_column:
        # A training row's timestamp must parse, as ingestion checks it (no month is chosen here).
        unreadable, _, _ = by_month(registry, columns[registry.span_column], None)
        if unreadable:
            return unreadable[0]
    table = typed(registry, columns, 1, with_label=with_label, inline=frozenset(inline))
    if not table.rejected:
        import pyarrow as pa

        table.images = {name: pa.array([data], pa.binary()) for name, data in inline.items()}
    return table.single()


def _inline_images(registry: FeatureRegistry, row: Mapping) -> dict[str, bytes] | Rejected:
    """The image features given inline under their own name, or why one is not an image."""
    inline = {}
    for feature in registry.of_kind(Kind.IMAGE):
        try:
            data = inline_image(row.get(feature.name))
        except ValueError as exc:
            return Rejected(UNDECODABLE_IMAGE, f"{feature.name}: {exc}")
        if data is not None:
            inline[feature.name] = data
    return inline


def _columns(
    registry: FeatureRegistry, row: Mapping, inline: Mapping[str, bytes], with_label: bool
) -> dict[str, list[str]] | Rejected:
    """The row's columns as one-field text columns, or why one is missing or not a single value."""
    optional = set() if with_label else {registry.example_id, *registry.passthrough}
    read = _columns_read(registry, inline, with_label)
    columns = {}
    for column in registry.csv_columns:
        if column not in read:
            continue
        if column not in row:
            if column in optional:
                continue
            return Rejected(BAD_VALUE_TYPE, f"no column {column!r}")
        text = _text(row[column])
        if text is None:
            return Rejected(BAD_VALUE_TYPE, f"{column}={shown(str(row[column]))} is not a single value")
        columns[column] = [text]
    return columns


def _columns_read(registry: FeatureRegistry, inline: Mapping[str, bytes], with_label: bool) -> set[str]:
    """The columns a row must give: an image given inline needs no source column."""
    used = {registry.example_id, *registry.passthrough} - {""}
    if with_label:
        used.update({*registry.label_columns, registry.span_column} - {""})
    for feature in registry.features:
        if feature.kind is not Kind.IMAGE:
            used.add(feature.name)
        elif feature.name not in inline:
            used.add(feature.source_column)
    return used


def _text(value) -> str | None:
    """A raw value as text, as a CSV field would hold it; None for a JSON list or object."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    return None
