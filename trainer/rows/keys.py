"""A row's key and its split: the key hashed from its fields when the dataset names no example
id, and the train/eval split hashed from the key."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

from trainer.features import FeatureRegistry

TRAIN = "train"
EVAL = "eval"
SPLITS = (TRAIN, EVAL)

# Joins a row's fields before hashing them: the ASCII unit separator, which text fields do not hold.
_FIELD_SEPARATOR = "\x1f"
# Hex digits of a row key: 128 bits.
_KEY_HEX = 32


def row_key(fields: Sequence[str]) -> str:
    """A row's key when the dataset names no example id: the first 128 bits of the SHA-256 of
    its raw fields (the config's columns in `FeatureRegistry.csv_columns` order, joined by the
    ASCII unit separator), in hex. Equal rows get equal keys, so duplicates share a split."""
    return _key_of(_FIELD_SEPARATOR.join(fields).encode())


def _key_of(joined: bytes) -> str:
    return hashlib.sha256(joined).hexdigest()[:_KEY_HEX]


def row_keys(registry: FeatureRegistry, columns: Mapping[str, list[str]], keep) -> list[str]:
    """`row_key` of the rows at positions `keep`, with the fields joined column-wise."""
    import pyarrow as pa
    import pyarrow.compute as pc

    take = pa.array(keep, pa.int64())
    # An image given inline (`parse_mapping`) leaves its source column out: an empty field.
    parts = [
        pa.array(columns[name], pa.string()).take(take) if name in columns else pa.array([""] * len(keep), pa.string())
        for name in registry.csv_columns
    ]
    joined = pc.binary_join_element_wise(*parts, _FIELD_SEPARATOR).cast(pa.binary())
    return [_key_of(value) for value in joined.to_pylist()]


def split_of(example_id: str, eval_percent: int) -> str:
    """ "eval" for `eval_percent` % of ids, by a hash of the id: the same split every run."""
    bucket = int.from_bytes(hashlib.sha256(example_id.encode()).digest()[:8], "big") % 100
    return EVAL if bucket < eval_percent else TRAIN
