"""The value rules: raw text columns to typed columns, or each failing row to its rejection.

Every path (files, requests, local rows) goes through `typed`; the first failing column of a
row names its reason, in the order: example id, features (registry order), label.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from trainer.features import Feature, FeatureRegistry, Kind
from trainer.rows.creatives import creative_paths
from trainer.rows.keys import row_keys
from trainer.rows.labels import labels
from trainer.rows.numbers import numbers
from trainer.rows.rejections import BAD_VALUE_TYPE, MISSING_CREATIVE, Refusals, shown
from trainer.rows.table import Table


def typed(
    registry: FeatureRegistry,
    columns: Mapping[str, list[str]],
    size: int,
    *,
    with_label: bool,
    inline: Collection[str] = frozenset(),
) -> Table:
    """The rows of raw text `columns` (name → one field per row) as a typed table.

    Args:
        registry: the dataset's features, label and keys.
        columns: the columns read, each holding `size` fields.
        size: the rows given.
        with_label: the rows carry the label (training data).
        inline: image features given inline, whose source column is not read.
    """
    import pyarrow as pa

    refusals = Refusals(size)
    values = _keys(registry, columns, refusals)
    features, sources = _features(registry, columns, inline, refusals)
    values.update(features)
    if with_label:
        values[registry.label] = labels(registry, columns, refusals)
    keep = refusals.kept()
    take = pa.array(keep, pa.int64())
    return Table(
        size=size,
        rejected=refusals.rejected,
        kept=keep.tolist(),
        example_ids=_example_ids(registry, columns, keep, with_label),
        values={name: column.take(take) for name, column in values.items()},
        creatives={
            feature.name: creative_paths(sources[feature.name].take(take), feature)
            for feature in registry.of_kind(Kind.IMAGE)
            if feature.name in sources
        },
    )


def _strings(column: list[str]):
    import pyarrow as pa

    return pa.array(column, pa.string())


def _blank(array):
    import pyarrow.compute as pc

    return pc.equal(pc.utf8_trim_whitespace(array), "")


def _keys(registry: FeatureRegistry, columns: Mapping[str, list[str]], refusals: Refusals) -> dict:
    """The example id (never blank) and passthrough columns given, as binary columns."""
    import pyarrow as pa

    values = {}
    key = registry.example_id
    if key and key in columns:
        ids = _strings(columns[key])
        refusals.refuse(_blank(ids), BAD_VALUE_TYPE, lambda i: f"{key} is empty")
        values[key] = ids.cast(pa.binary())
    for name in registry.passthrough:
        if name in columns:
            values[name] = _strings(columns[name]).cast(pa.binary())
    return values


def _features(
    registry: FeatureRegistry, columns: Mapping[str, list[str]], inline: Collection[str], refusals: Refusals
) -> tuple[dict, dict]:
    """(feature name → typed column, image feature name → its creatives' source values)."""
    import pyarrow as pa

    values, sources = {}, {}
    for feature in registry.features:
        if feature.kind is Kind.IMAGE:
            if feature.name not in inline and feature.source_column in columns:
                source = _strings(columns[feature.source_column])
                refusals.refuse(_blank(source), MISSING_CREATIVE, lambda i, c=feature.source_column: f"{c} is empty")
                sources[feature.name] = source
        elif feature.kind is Kind.NUMERIC:
            values[feature.name] = _numeric(feature, columns[feature.name], refusals)
        else:
            # Text and categorical values are kept byte for byte.
            values[feature.name] = _strings(columns[feature.name]).cast(pa.binary())
    return values, sources


def _numeric(feature: Feature, column: list[str], refusals: Refusals):
    """A numeric feature's float32 values; blank is the feature's default."""
    import pyarrow as pa
    import pyarrow.compute as pc

    parsed, empty, fits = numbers(_strings(column))
    refusals.refuse(
        pc.invert(pc.or_(empty, fits)),
        BAD_VALUE_TYPE,
        lambda i: f"{feature.name}={shown(column[i])} is not a number a float32 can hold",
    )
    return pc.if_else(empty, feature.default, pc.if_else(fits, parsed, 0.0)).cast(pa.float32())


def _example_ids(registry: FeatureRegistry, columns: Mapping[str, list[str]], keep, with_label: bool) -> list[str]:
    """The kept rows' example ids; without a key column, training rows' own fields are their key
    (serving requests need none)."""
    key = registry.example_id
    if key and key in columns:
        return [columns[key][i] for i in keep]
    if not key and with_label:
        return row_keys(registry, columns, keep)
    return [""] * len(keep)
