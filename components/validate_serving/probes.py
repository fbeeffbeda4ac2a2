"""Probe requests built from eval examples, and the checks their responses must pass.

Pure logic, no server: the probe runner (`serving_check`) sends these requests and hands the
responses here. The four signatures are the trainer's export contract (trainer/export.py):
`serving_default` and `regress`/`classify` take serialized tf.Examples, `predict_raw` takes
one `[batch]` tensor per raw feature.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

PREDICT_SIGNATURE = "serving_default"
RAW_SIGNATURE = "predict_raw"
CLASSIFY_SIGNATURE = "classify"
REGRESS_SIGNATURE = "regress"
# Two ways to the same probability (REST raw features vs gRPC tf.Examples) must agree this well.
AGREEMENT_RTOL = 1e-4
AGREEMENT_ATOL = 1e-5
# Classify scores are [1 - p, p]: their sum may be off by float32 rounding only.
SCORE_SUM_ATOL = 1e-4


class ProbeError(Exception):
    """A request that could not be built or a response that breaks the serving contract."""


@dataclass(frozen=True)
class ProbeRequests:
    """The requests sent to the candidate, all over the same examples.

    Attributes:
        examples: serialized tf.Examples holding only the model's raw features (no label, no
            example id: an ad server has neither).
        raw_inputs: `predict_raw` inputs, one array of `len(examples)` values per feature;
            float32 for numeric inputs, object arrays of bytes for string inputs.
    """

    examples: list[bytes]
    raw_inputs: dict[str, np.ndarray]

    @property
    def count(self) -> int:
        return len(self.examples)


def _feature_values(feature) -> list:
    kind = feature.WhichOneof("kind")
    return list(getattr(feature, kind).value) if kind else []


def build_requests(serialized: Sequence[bytes], raw_input_dtypes: Mapping[str, np.dtype]) -> ProbeRequests:
    """Probe requests from eval examples.

    Args:
        serialized: serialized tf.Examples from the eval split (with label and example id).
        raw_input_dtypes: the `predict_raw` inputs, name → numpy dtype (object for strings).

    Returns:
        The examples cut down to the raw features, and the `predict_raw` inputs from them.

    Raises:
        ProbeError: no examples, or an example lacks a raw feature or has more than one value
            for it (the message names the feature and the example's position).
    """
    from tensorflow.core.example import example_pb2

    if not serialized:
        raise ProbeError("no eval examples to build requests from")
    if not raw_input_dtypes:
        raise ProbeError(f"signature {RAW_SIGNATURE!r} has no inputs")
    columns: dict[str, list] = {name: [] for name in raw_input_dtypes}
    examples = []
    for position, raw in enumerate(serialized):
        example = example_pb2.Example.FromString(raw)
        kept = example_pb2.Example()
        for name in raw_input_dtypes:
            if name not in example.features.feature:
                raise ProbeError(f"eval example {position} has no feature {name!r}")
            feature = example.features.feature[name]
            values = _feature_values(feature)
            if len(values) != 1:
                raise ProbeError(
                    f"eval example {position} has {len(values)} values for {name!r}, expected 1"
                )
            columns[name].append(values[0])
            kept.features.feature[name].CopyFrom(feature)
        examples.append(kept.SerializeToString(deterministic=True))
    return ProbeRequests(examples, {name: _column(name, values, np.dtype(raw_input_dtypes[name]))
                                    for name, values in columns.items()})


def _column(name: str, values: list, dtype: np.dtype) -> np.ndarray:
    if dtype != np.dtype(object):
        try:
            return np.asarray(values, dtype=dtype)
        except (TypeError, ValueError):
            raise ProbeError(f"input {name!r} is {dtype} but the eval examples hold "
                             f"{values[:3]}") from None
    column = np.empty(len(values), dtype=object)
    column[:] = [v if isinstance(v, bytes) else str(v).encode() for v in values]
    return column


def _json_value(value):
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            # Binary values (the creative's PNG bytes) travel as TF Serving's {"b64": ...}.
            return {"b64": base64.b64encode(value).decode("ascii")}
    return float(value) if isinstance(value, np.floating) else value


def row_format_body(raw_inputs: Mapping[str, np.ndarray], signature_name: str = RAW_SIGNATURE) -> dict:
    """A REST `:predict` body in the row ("instances") format."""
    count = len(next(iter(raw_inputs.values())))
    instances = [{name: _json_value(column[i]) for name, column in raw_inputs.items()}
                 for i in range(count)]
    return {"signature_name": signature_name, "instances": instances}


def rest_predictions(document: Mapping, output_key: str) -> np.ndarray:
    """The probabilities in a row-format REST `:predict` response.

    Raises:
        ProbeError: the response has no `predictions`, or lacks `output_key` when the
            signature has several outputs.
    """
    if "predictions" not in document:
        raise ProbeError(f"REST :predict answered without 'predictions': {str(document)[:200]}")
    rows = document["predictions"]
    if rows and isinstance(rows[0], Mapping):
        if any(output_key not in row for row in rows):
            raise ProbeError(f"REST :predict answered without output {output_key!r}")
        rows = [row[output_key] for row in rows]
    try:
        return np.asarray(rows, dtype=np.float64)
    except (TypeError, ValueError):
        raise ProbeError(f"REST :predict answered non-numeric predictions: {str(rows)[:200]}") from None


def check_probabilities(name: str, values, count: int, shape: tuple[int, ...]) -> np.ndarray:
    """Checks a batch of probabilities: the expected shape, finite, within [0, 1].

    Args:
        name: what answered, for the message (e.g. ``gRPC serving_default``).
        values: the answer.
        count: the number of examples sent.
        shape: the expected shape with the batch dimension first, e.g. ``(count, 1)``.

    Returns:
        The values as a float64 array.

    Raises:
        ProbeError: wrong shape, a NaN or infinity, or a value outside [0, 1].
    """
    array = np.asarray(values, dtype=np.float64)
    if array.shape != shape:
        raise ProbeError(f"{name} answered shape {list(array.shape)} for {count} examples, "
                         f"expected {list(shape)}")
    if not np.all(np.isfinite(array)):
        raise ProbeError(f"{name} answered a value that is not finite: {array.reshape(-1)[:8]}")
    if np.any((array < 0) | (array > 1)):
        raise ProbeError(f"{name} answered a probability outside [0, 1]: {array.reshape(-1)[:8]}")
    return array


def check_agreement(name: str, values: np.ndarray, reference_name: str, reference: np.ndarray) -> None:
    """Checks that two answers for the same examples agree (allclose).

    Raises:
        ProbeError: they differ; the message gives the largest difference.
    """
    values, reference = np.asarray(values).reshape(-1), np.asarray(reference).reshape(-1)
    if values.shape != reference.shape:
        raise ProbeError(f"{name} answered {values.size} values, {reference_name} {reference.size}")
    if not np.allclose(values, reference, rtol=AGREEMENT_RTOL, atol=AGREEMENT_ATOL):
        worst = float(np.max(np.abs(values - reference)))
        raise ProbeError(f"{name} and {reference_name} disagree on the same examples "
                         f"(largest difference {worst:.3g})")


def check_classifications(name: str, results: Sequence[Sequence[tuple[str, float]]],
                          count: int) -> np.ndarray:
    """Checks classify results: one row per example, two classes, scores a distribution.

    Returns:
        The scores, shape ``[count, 2]``.

    Raises:
        ProbeError: wrong number of rows or classes, a bad score, or scores not summing to 1.
    """
    if len(results) != count:
        raise ProbeError(f"{name} answered {len(results)} results for {count} examples")
    if any(len(row) != 2 for row in results):
        raise ProbeError(f"{name} answered rows of {sorted({len(r) for r in results})} classes, "
                         "expected 2")
    scores = check_probabilities(name, [[score for _, score in row] for row in results], count,
                                 (count, 2))
    sums = scores.sum(axis=1)
    if not np.allclose(sums, 1.0, atol=SCORE_SUM_ATOL):
        raise ProbeError(f"{name} scores do not sum to 1: {sums[:8]}")
    return scores


def single_output(outputs: Sequence[str], signature_name: str) -> str:
    """The one output of a probability signature.

    Raises:
        ProbeError: the signature has no output or several.
    """
    outputs = list(outputs)
    if len(outputs) != 1:
        raise ProbeError(f"signature {signature_name!r} has outputs {sorted(outputs)}, expected one")
    return outputs[0]
