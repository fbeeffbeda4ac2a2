"""TF Serving's REST JSON mapping (json_tensor.cc): parsing, checks and output formats."""

from __future__ import annotations

import base64
import binascii
import json
import math

import numpy as np
import pytest
from tensorflow.core.protobuf import meta_graph_pb2

from serving import errors, json_codec
from serving.errors import ServingError

FLOAT, STRING, INT64, BOOL, INT32, DOUBLE = 1, 7, 9, 10, 3, 2


def infos(**dtypes) -> dict:
    return {name: meta_graph_pb2.TensorInfo(dtype=dtype) for name, dtype in dtypes.items()}


def error_of(call) -> str:
    with pytest.raises(ServingError) as caught:
        call()
    assert caught.value.http_status == 400
    return caught.value.message


def test_row_format_with_one_input_batches_instances():
    inputs, row = json_codec.predict_inputs({"instances": [[1, 2], [3, 4]]}, infos(x=FLOAT))
    assert row is True
    np.testing.assert_array_equal(inputs["x"], np.array([[1, 2], [3, 4]], dtype=np.float32))
    assert inputs["x"].dtype == np.float32


def test_row_format_with_named_inputs_and_b64():
    document = {"instances": [{"k": {"b64": "AAE="}, "n": 5}, {"k": "text", "n": -1}]}
    inputs, _ = json_codec.predict_inputs(document, infos(k=STRING, n=INT64))
    assert inputs["k"].tolist() == [b"\x00\x01", b"text"]
    assert inputs["n"].tolist() == [5, -1] and inputs["n"].dtype == np.int64


def test_columnar_format_allows_different_batch_sizes():
    inputs, row = json_codec.predict_inputs(
        {"inputs": {"a": [1.0, 2.0, 3.0], "b": [[True]]}}, infos(a=DOUBLE, b=BOOL)
    )
    assert row is False
    assert inputs["a"].shape == (3,) and inputs["b"].tolist() == [[True]]


@pytest.mark.parametrize(
    ("document", "dtypes", "message"),
    [
        ({"instances": [[1, 2], [3]]}, {"x": FLOAT}, "Expecting tensor size: 2 but got: 1"),
        (
            {"instances": [[[1, 2]], [[3], [4]]]},
            {"x": FLOAT},
            "Expecting shape [1,2] but got: [2,1]",
        ),
        (
            {"inputs": [[1, 2], [3]]},
            {"x": FLOAT},
            "Encountered list at unexpected size: 1 at level: 1 expected size: 2",
        ),
        (
            {"inputs": [[1, 2], 3]},
            {"x": FLOAT},
            "JSON Value: 3 found at incorrect level: 2 in the JSON DOM",
        ),
        (
            {"inputs": [1, [2]]},
            {"x": FLOAT},
            "Encountered list at unexpected level: 1 expected < 1",
        ),
        (
            {"inputs": [True]},
            {"x": FLOAT},
            "JSON Value: true Type: True is not of expected type: float",
        ),
        (
            {"inputs": [1.5]},
            {"x": INT32},
            "JSON Value: 1.5 Type: Number is not of expected type: int32",
        ),
        ({"inputs": [2**31]}, {"x": INT32}, "is not of expected type: int32"),
        ({"inputs": [2**53]}, {"x": DOUBLE}, "to double without loss of precision"),
        (
            {"inputs": [1e39]},
            {"x": FLOAT},
            "Cannot convert JSON value: 1e+39 to float without loss of precision.",
        ),
        ({"inputs": [{"b64": 3}]}, {"x": STRING}, "not formatted correctly for base64 data"),
        ({"inputs": [{"b64": "a$b"}]}, {"x": STRING}, "Unable to base64 decode"),
        (
            {"instances": [{"a": 1}, [1]]},
            {"a": FLOAT},
            "Expecting object but got list at item 1 of input list",
        ),
        (
            {"instances": [[1], {"a": 1}]},
            {"a": FLOAT},
            "Expecting value/list but got object at item 1 of input list",
        ),
        (
            {"instances": [{"a": 1, "zz": 2}]},
            {"a": FLOAT},
            "Failed to process element: 0 key: zz of 'instances' list. "
            "Error: INVALID_ARGUMENT: JSON object: does not have named input: zz",
        ),
        (
            {"inputs": [1], "instances": [1]},
            {"a": FLOAT},
            "Not formatted correctly expecting only one of",
        ),
    ],
)
def test_bad_tensors_get_tf_serving_messages(document, dtypes, message):
    assert message in error_of(lambda: json_codec.predict_inputs(document, infos(**dtypes)))


def test_parse_json_accepts_nan_and_reports_offsets():
    document = json_codec.parse_json(b'{"inputs": [NaN, Infinity, -Infinity]}')
    values = json_codec.predict_inputs(document, infos(x=FLOAT))[0]["x"]
    assert math.isnan(values[0]) and values[1] == np.inf and values[2] == -np.inf
    assert error_of(lambda: json_codec.parse_json(b'{"a": ')).startswith("JSON Parse error: ")
    assert "at offset: 6" in error_of(lambda: json_codec.parse_json(b'{"a": '))
    assert error_of(lambda: json_codec.parse_json(b"[" * 5000 + b"]" * 5000)).startswith(
        "JSON Parse error"
    )
    assert error_of(lambda: json_codec.parse_json(b'"text"')) == 'JSON Value: "text" Is not object'


def test_examples_for_classify_follow_the_feature_kind_rules():
    from tensorflow.core.example import example_pb2

    [raw] = json_codec.examples_from_json(
        {
            "context": {"c": "shared"},
            "examples": [{"f": 1.5, "i": [1, 2], "b": True, "s": {"b64": "AAE="}}],
        }
    )
    example = example_pb2.Example.FromString(raw)
    features = example.features.feature
    assert list(features["c"].bytes_list.value) == [b"shared"]
    assert list(features["f"].float_list.value) == [1.5]
    assert list(features["i"].int64_list.value) == [1, 2]
    assert list(features["b"].int64_list.value) == [1]
    assert list(features["s"].bytes_list.value) == [b"\x00\x01"]
    message = error_of(lambda: json_codec.examples_from_json({"examples": [{"f": [1.5, "a"]}]}))
    assert message == "Unexpected element type in feature: f expecting type: float"
    assert "Example must be JSON object but got JSON Array" in error_of(
        lambda: json_codec.examples_from_json({"examples": [[1]]})
    )


def test_outputs_in_row_and_columnar_formats():
    outputs = {
        "p": np.array([[0.25], [0.5]], dtype=np.float32),
        "label_bytes": np.array([b"\x00", b"b"], dtype=object),
        "name": np.array([b"x", b"y"], dtype=object),
    }
    rows = json.loads(json_codec.predict_response(outputs, row_format=True))
    assert rows == {
        "predictions": [
            {"label_bytes": {"b64": "AA=="}, "name": "x", "p": [0.25]},
            {"label_bytes": {"b64": "Yg=="}, "name": "y", "p": [0.5]},
        ]
    }
    columns = json.loads(json_codec.predict_response({"p": outputs["p"]}, row_format=False))
    assert columns == {"outputs": [[0.25], [0.5]]}
    nan = json_codec.predict_response({"p": np.array([np.nan], dtype=np.float32)}, row_format=False)
    assert nan == b'{"outputs": [NaN]}'
    assert "inconsistent batch size" in error_of(
        lambda: json_codec.predict_response({"a": np.zeros(2), "b": np.zeros(3)}, row_format=True)
    )


def test_float32_outputs_are_written_without_float64_noise():
    assert (
        json_codec.predict_response({"p": np.array([0.1], dtype=np.float32)}, False)
        == b'{"outputs":[0.1]}'
    )
    assert (
        json_codec.regress_response(np.array([0.1, 2.0], dtype=np.float32))
        == b'{"results":[0.1,2.0]}'
    )


def test_classify_results_pair_labels_and_scores():
    classes = np.array([[b"no", b"yes"]], dtype=object)
    scores = np.array([[0.25, 0.75]], dtype=np.float32)
    assert json.loads(json_codec.classify_response(classes, scores)) == {
        "results": [[["no", 0.25], ["yes", 0.75]]]
    }
    assert json.loads(json_codec.classify_response(None, scores)) == {
        "results": [[["", 0.25], ["", 0.75]]]
    }


@pytest.mark.parametrize(
    "text",
    ["", "AAE=", "AAE", "YQ", "Y", "Y===", "====", "==", "AB=C", "a$b", "é", "QUJD\n", "-_-_", "YWJj ZA==", "\ud800"],
)
def test_b64_accepts_exactly_what_validated_base64_accepts(text):
    try:
        expected = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        assert error_of(lambda: json_codec.json_to_array({"b64": text}, STRING)) == "Unable to base64 decode"
    else:
        assert json_codec.json_to_array({"b64": text}, STRING).item() == expected


def test_values_in_error_messages_are_shown_as_tf_serving_shows_them():
    assert json_codec.show({"a": [1, 2.5]}) == '{\n    "a": [\n        1,\n        2.5\n    ]\n}'
    assert json_codec.show("é") == '"é"'
    assert json_codec.show(float("nan")) == "NaN"


@pytest.mark.parametrize(
    "value",
    [
        json.loads("[" * 900 + ",".join(["1"] * 50_000) + "]" * 900),  # pretty: ~180 MB
        {"k": "x" * 1_000_000},
        "x" * 1_000_000,
        list(range(100_000)),
    ],
    ids=["deep", "long string in object", "long string", "long list"],
)
def test_shown_values_are_cut_whatever_their_size_or_depth(value):
    shown = json_codec.show(value)
    assert len(shown) <= json_codec.MAX_SHOWN_CHARS + len("...")
    assert shown.endswith("...")


def test_a_value_too_deep_for_the_encoder_is_named_not_shown():
    deep = None
    for _ in range(5000):
        deep = [deep]
    assert json_codec.show(deep) == "<Array nested too deeply to show>"


def test_error_messages_and_bodies_are_bounded():
    error = errors.invalid_argument("x" * 100_000)
    assert len(error.message) == errors.MAX_MESSAGE_CHARS
    assert error.message.endswith("... (truncated)")
    assert errors.invalid_argument("short").message == "short"
    body = json.loads(json_codec.error_body("y" * 100_000))
    assert len(body["error"]) == errors.MAX_MESSAGE_CHARS
