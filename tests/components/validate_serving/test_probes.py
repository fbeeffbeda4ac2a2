"""Probe requests from eval examples and the checks on the answers (no server)."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from components.validate_serving import probes
from tests.components.validate_serving import fixtures as fx

DTYPES = {"x": np.dtype(np.float32), "k": np.dtype(object)}


def parse(raw: bytes):
    from tensorflow.core.example import example_pb2

    return example_pb2.Example.FromString(raw)


def test_requests_keep_only_raw_features_in_order():
    rows = fx.eval_rows(4)

    requests = probes.build_requests([fx.serialize(r) for r in rows], DTYPES)

    assert requests.count == 4
    assert [sorted(parse(e).features.feature) for e in requests.examples] == [["k", "x"]] * 4
    assert requests.raw_inputs["x"].dtype == np.float32
    np.testing.assert_allclose(requests.raw_inputs["x"], [r["x"] for r in rows], rtol=1e-6)
    expected_k = [r["k"] if isinstance(r["k"], bytes) else r["k"].encode() for r in rows]
    assert list(requests.raw_inputs["k"]) == expected_k


def test_an_example_without_a_raw_feature_is_named():
    row = fx.eval_rows(2)[1]
    del row["k"]

    with pytest.raises(probes.ProbeError, match="eval example 1 has no feature 'k'"):
        probes.build_requests([fx.serialize(fx.eval_rows(1)[0]), fx.serialize(row)], DTYPES)


def test_a_feature_with_two_values_is_refused():
    import tensorflow as tf

    example = tf.train.Example()
    example.features.feature["x"].float_list.value.extend([1.0, 2.0])
    example.features.feature["k"].bytes_list.value.append(b"a")

    with pytest.raises(probes.ProbeError, match="2 values for 'x', expected 1"):
        probes.build_requests([example.SerializeToString()], DTYPES)


def test_a_string_where_a_number_is_expected_is_refused():
    with pytest.raises(probes.ProbeError, match="input 'k' is float32"):
        probes.build_requests([fx.serialize(fx.eval_rows(1)[0])], {"k": np.dtype(np.float32)})


def test_no_examples_is_refused():
    with pytest.raises(probes.ProbeError, match="no eval examples"):
        probes.build_requests([], DTYPES)


def test_row_format_sends_binary_values_as_b64_and_text_as_text():
    raw_inputs = {
        "x": np.array([0.5, -1.0], np.float32),
        "k": np.array([b"\x89PNG\r\n", b"plain title"], dtype=object),
    }

    body = probes.row_format_body(raw_inputs)

    assert body == {
        "signature_name": "predict_raw",
        "instances": [
            {"x": 0.5, "k": {"b64": base64.b64encode(b"\x89PNG\r\n").decode()}},
            {"x": -1.0, "k": "plain title"},
        ],
    }
    assert all(type(row["x"]) is float for row in body["instances"])


def test_rest_predictions_single_and_named_outputs():
    np.testing.assert_array_equal(
        probes.rest_predictions({"predictions": [[0.25], [0.5]]}, "p"), [[0.25], [0.5]])
    np.testing.assert_array_equal(
        probes.rest_predictions({"predictions": [{"p": [0.1], "q": 3}]}, "p"), [[0.1]])
    with pytest.raises(probes.ProbeError, match="without output 'p'"):
        probes.rest_predictions({"predictions": [{"q": [0.1]}]}, "p")
    with pytest.raises(probes.ProbeError, match="without 'predictions'"):
        probes.rest_predictions({"error": "boom"}, "p")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ([[0.1], [0.2], [0.3]], r"shape \[3, 1\] for 2 examples, expected \[2, 1\]"),
        ([0.1, 0.2], r"shape \[2\] for 2 examples"),
        ([[0.1], [float("nan")]], "not finite"),
        ([[0.1], [1.5]], r"outside \[0, 1\]"),
        ([[-0.01], [0.5]], r"outside \[0, 1\]"),
    ],
)
def test_bad_probabilities_are_refused(values, message):
    with pytest.raises(probes.ProbeError, match=message):
        probes.check_probabilities("gRPC", values, 2, (2, 1))


def test_good_probabilities_pass_including_the_bounds():
    array = probes.check_probabilities("gRPC", [[0.0], [1.0]], 2, (2, 1))
    np.testing.assert_array_equal(array, [[0.0], [1.0]])


def test_agreement_within_float_tolerance_and_disagreement_named():
    reference = np.array([[0.25], [0.75]])
    probes.check_agreement("REST", np.array([[0.2500001], [0.75]]), "gRPC", reference)
    with pytest.raises(probes.ProbeError, match=r"REST and gRPC disagree .*largest difference 0.01"):
        probes.check_agreement("REST", np.array([[0.26], [0.75]]), "gRPC", reference)
    with pytest.raises(probes.ProbeError, match="answered 1 values"):
        probes.check_agreement("REST", np.array([0.25]), "gRPC", reference)


def test_classifications_must_be_two_class_distributions():
    good = [[("0", 0.75), ("1", 0.25)], [("0", 0.4), ("1", 0.6)]]
    np.testing.assert_allclose(probes.check_classifications("REST", good, 2), [[0.75, 0.25], [0.4, 0.6]])
    with pytest.raises(probes.ProbeError, match="answered 1 results for 2 examples"):
        probes.check_classifications("REST", good[:1], 2)
    with pytest.raises(probes.ProbeError, match=r"rows of \[1, 2\] classes"):
        probes.check_classifications("REST", [[("1", 0.3)], good[1]], 2)
    with pytest.raises(probes.ProbeError, match="do not sum to 1"):
        probes.check_classifications("REST", [[("0", 0.5), ("1", 0.6)], good[1]], 2)


def test_single_output():
    assert probes.single_output(["click_probability"], "serving_default") == "click_probability"
    with pytest.raises(probes.ProbeError, match=r"outputs \['a', 'b'\], expected one"):
        probes.single_output(["b", "a"], "serving_default")
