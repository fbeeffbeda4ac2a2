"""numpy <-> TensorProto: the fast paths give exactly what tf.make_tensor_proto / make_ndarray give."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2

from serving import protos
from serving.errors import ServingError

NUMERIC_DTYPES = [
    np.float32,
    np.float64,
    np.int32,
    np.uint8,
    np.int16,
    np.int8,
    np.int64,
    np.bool_,
    np.uint16,
    np.uint32,
    np.uint64,
]
SHAPES = [(), (1,), (3,), (2, 3), (0,), (2, 0, 4)]


def strings(shape) -> np.ndarray:
    values = np.empty(int(np.prod(shape)), dtype=object)
    values[:] = [f"v{i}\x00é".encode() for i in range(values.size)]
    return values.reshape(shape)


def numbers(dtype, shape) -> np.ndarray:
    return (np.arange(int(np.prod(shape))) % 7).astype(dtype).reshape(shape)


def assert_same_array(got: np.ndarray, want: np.ndarray) -> None:
    assert got.dtype == want.dtype and got.shape == want.shape
    assert got.tolist() == want.tolist()


@pytest.fixture()
def tensorflow_reference(monkeypatch):
    """TensorFlow's own conversions, to compare with; `protos` must not fall back to them."""
    reference = tf.make_tensor_proto, tf.make_ndarray

    def fail(*args, **kwargs):
        raise AssertionError("fell back to TensorFlow's conversion")

    monkeypatch.setattr(tf, "make_tensor_proto", fail)
    monkeypatch.setattr(tf, "make_ndarray", fail)
    return reference


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", NUMERIC_DTYPES, ids=lambda d: np.dtype(d).name)
def test_numbers_build_the_same_proto_and_round_trip(dtype, shape, tensorflow_reference):
    make_tensor_proto, make_ndarray = tensorflow_reference
    array = numbers(dtype, shape)
    proto = protos.array_to_tensor(array)
    assert proto == make_tensor_proto(array)
    assert_same_array(protos.make_ndarray(proto), array)
    assert_same_array(protos.make_ndarray(proto), make_ndarray(proto))


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_strings_build_the_same_proto_and_round_trip(shape, tensorflow_reference):
    make_tensor_proto, make_ndarray = tensorflow_reference
    array = strings(shape)
    proto = protos.array_to_tensor(array)
    assert proto == make_tensor_proto(array)
    assert proto.string_val == array.ravel().tolist()
    assert_same_array(protos.make_ndarray(proto), array)
    assert_same_array(protos.make_ndarray(proto), make_ndarray(proto))


@pytest.mark.parametrize(
    "value",
    [
        np.array([b"a", b"bc\x00"]),  # fixed-width bytes
        np.array(["é", "x"]),  # unicode
        np.array(["text", b"bytes"], dtype=object),  # mixed str/bytes objects
        np.arange(4, dtype=np.float16),
        np.array([1 + 2j, 3j], dtype=np.complex64),
        np.arange(6, dtype=">i4").reshape(2, 3),  # big-endian
        np.arange(12, dtype=np.float32).reshape(3, 4).T,  # not C-contiguous
        [[1.0, 2.0]],  # a list: TensorFlow picks the dtype (float32)
        3,
    ],
    ids=repr,
)
def test_other_values_match_tensorflow(value):
    proto = protos.array_to_tensor(value)
    assert proto == tf.make_tensor_proto(value)
    assert_same_array(protos.make_ndarray(proto), tf.make_ndarray(proto))


def tensor(dtype: int, dims, **values) -> tensor_pb2.TensorProto:
    shape = tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in dims])
    return tensor_pb2.TensorProto(dtype=dtype, tensor_shape=shape, **values)


@pytest.mark.parametrize(
    "proto",
    [
        tensor(1, [3], float_val=[1.5]),  # fewer values than elements: the last one repeats
        tensor(1, [2, 2]),  # no values: zeros
        tensor(7, [3], string_val=[b"a"]),
        tensor(7, [2]),
        tensor(9, [2], int64_val=[1, 2]),
        tensor(10, [2], bool_val=[True, False]),
        tensor(4, [2], int_val=[1, 255]),
        tensor(3, [2, 2], tensor_content=np.arange(4, dtype=np.int32).tobytes()),
        tensor(19, [2], half_val=[15360, 16384]),  # float16 1.0, 2.0
        tensor(8, [1], scomplex_val=[1.0, 2.0]),
    ],
    ids=lambda p: str(p).replace("\n", " "),
)
def test_requests_parse_as_tensorflow_parses_them(proto):
    assert_same_array(protos.make_ndarray(proto), tf.make_ndarray(proto))
    assert_same_array(protos.request_inputs({"x": proto}, 1000)["x"], tf.make_ndarray(proto))


def test_parsed_content_is_a_writable_copy():
    array = protos.make_ndarray(tensor(1, [2], tensor_content=np.ones(2, np.float32).tobytes()))
    array[0] = 5.0
    assert array.tolist() == [5.0, 1.0]


@pytest.mark.parametrize(
    "proto",
    [
        tensor(1, [4], tensor_content=b"\x00" * 7),
        tensor(1, [2], float_val=[1.0, 2.0, 3.0]),
        tensor(7, [1], tensor_content=b"abc"),
        tensor(1, [-2], float_val=[1.0]),
        tensor(0, [1], float_val=[1.0]),
    ],
    ids=range(5),
)
def test_malformed_requests_are_invalid_arguments(proto):
    with pytest.raises(ServingError) as caught:
        protos.request_inputs({"x": proto}, 1000)
    assert caught.value.message == "Unable to parse tensor proto"


def test_a_tensor_is_limited_by_its_decoded_bytes_not_its_proto():
    # 8 bytes on the wire; 4,000 bytes of zeros once decoded.
    no_values = tensor(1, [1000])
    assert no_values.ByteSize() < 10
    assert protos.decoded_bytes(no_values) == 4000
    assert protos.decoded_bytes(tensor(7, [10])) == 80  # one pointer per string
    assert protos.request_inputs({"x": no_values}, 4000)["x"].shape == (1000,)
    with pytest.raises(ServingError) as caught:
        protos.request_inputs({"x": no_values}, 3999)
    assert caught.value.message == (
        "Input tensors (x: [1000]) would take 4000 bytes, more than the limit of 3999 bytes"
    )
    with pytest.raises(ServingError, match=r"\(a: \[600\], b: \[500\]\) would take 4400 bytes"):
        protos.request_inputs({"a": tensor(1, [600]), "b": tensor(1, [500])}, max_bytes=4000)
