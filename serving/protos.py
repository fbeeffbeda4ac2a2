"""Conversions between TF Serving's request/response protos and numpy arrays.

`make_ndarray` and `array_to_tensor` give exactly what `tf.make_ndarray` and
`tf.make_tensor_proto` give, several times faster for the usual tensors (numbers and strings,
every value present), and hand any other tensor to those functions.
"""

from __future__ import annotations

import math

import numpy as np

from serving import errors
from serving.servable import numpy_dtype

# Dtypes a request tensor may carry; resource/variant handles and DT_INVALID are refused.
_UNSUPPORTED_DTYPES = {0, 20, 21}
DT_STRING = 7
# TensorFlow DataType -> (numpy dtype, the TensorProto field holding its values one by one).
_NUMERIC = {
    1: (np.dtype(np.float32), "float_val"),
    2: (np.dtype(np.float64), "double_val"),
    3: (np.dtype(np.int32), "int_val"),
    4: (np.dtype(np.uint8), "int_val"),
    5: (np.dtype(np.int16), "int_val"),
    6: (np.dtype(np.int8), "int_val"),
    9: (np.dtype(np.int64), "int64_val"),
    10: (np.dtype(np.bool_), "bool_val"),
    17: (np.dtype(np.uint16), "int_val"),
    22: (np.dtype(np.uint32), "uint32_val"),
    23: (np.dtype(np.uint64), "uint64_val"),
}
_DTYPE_ENUMS = {dtype: enum for enum, (dtype, _) in _NUMERIC.items()}
# `tf.make_tensor_proto` packs these as `tensor_content` bytes when there is more than one value.
_CONTENT_DTYPES = {1, 2, 3, 4, 5, 6, 9, 22, 23}
_MAX_CONTENT_BYTES = 1 << 31


def make_ndarray(proto) -> np.ndarray:
    """`tf.make_ndarray`: a `TensorProto` as a numpy array (strings as bytes objects)."""
    dims = [dim.size for dim in proto.tensor_shape.dim]
    size = math.prod(dims)
    dtype, field = _NUMERIC.get(proto.dtype, (None, None))
    if dtype is not None and proto.tensor_content:
        return np.frombuffer(proto.tensor_content, dtype).copy().reshape(dims)
    if dtype is not None and len(getattr(proto, field)) == size:
        return np.fromiter(getattr(proto, field), dtype, size).reshape(dims)
    if proto.dtype == DT_STRING and not proto.tensor_content and len(proto.string_val) == size:
        array = np.empty(size, dtype=object)
        array[:] = list(proto.string_val)
        return array.reshape(dims)
    import tensorflow as tf

    return tf.make_ndarray(proto)


def decoded_bytes(proto) -> int:
    """The bytes a request `TensorProto` takes as an array (strings: one pointer each).

    A proto may leave values out (TensorFlow repeats the last one, or fills in zeros), so a
    proto of a few bytes can stand for a huge tensor: this is the size that limits apply to.

    Raises:
        ServingError: INVALID_ARGUMENT when the proto is not a dense tensor of a request dtype.
    """
    dims = [dim.size for dim in proto.tensor_shape.dim]
    if (
        proto.dtype in _UNSUPPORTED_DTYPES
        or proto.tensor_shape.unknown_rank
        or any(d < 0 for d in dims)
    ):
        raise errors.invalid_argument("Unable to parse tensor proto")
    try:
        itemsize = numpy_dtype(proto.dtype).itemsize
    except TypeError:
        raise errors.invalid_argument("Unable to parse tensor proto") from None
    return math.prod(dims) * itemsize


def request_inputs(inputs, max_bytes: int) -> dict[str, np.ndarray]:
    """A `PredictRequest`'s inputs (a map of `TensorProto`s) as numpy arrays (strings as bytes).

    Raises:
        ServingError: INVALID_ARGUMENT when a proto is not a valid dense tensor, or when the
            arrays would take more than `max_bytes` together (before any is built).
    """
    sizes = {key: decoded_bytes(proto) for key, proto in inputs.items()}
    if sum(sizes.values()) > max_bytes:
        shapes = ", ".join(
            f"{key}: [{','.join(str(dim.size) for dim in inputs[key].tensor_shape.dim)}]"
            for key in sorted(sizes)
        )
        raise errors.invalid_argument(
            f"Input tensors ({shapes}) would take {sum(sizes.values())} bytes, more than the "
            f"limit of {max_bytes} bytes"
        )
    try:
        return {key: make_ndarray(proto) for key, proto in inputs.items()}
    except (TypeError, ValueError, KeyError, IndexError):
        raise errors.invalid_argument("Unable to parse tensor proto") from None


def array_to_tensor(array: np.ndarray):
    """`tf.make_tensor_proto`: a numpy array (or nested list) as a `TensorProto`."""
    from tensorflow.core.framework import tensor_pb2

    is_array = isinstance(array, np.ndarray)
    enum = DT_STRING if is_array and array.dtype.kind in "OS" else None
    if is_array and enum is None:
        enum = _DTYPE_ENUMS.get(array.dtype)
    if enum is None or array.nbytes >= _MAX_CONTENT_BYTES:
        import tensorflow as tf

        return tf.make_tensor_proto(array)
    proto = tensor_pb2.TensorProto(dtype=enum)
    proto.tensor_shape.SetInParent()  # present even for a scalar, as TensorFlow writes it
    for size in array.shape:
        proto.tensor_shape.dim.add().size = size
    if enum in _CONTENT_DTYPES and array.size > 1:
        proto.tensor_content = array.tobytes()
    elif enum == DT_STRING:
        values = array.ravel().tolist()
        if not all(type(value) is bytes for value in values):
            import tensorflow as tf

            return tf.make_tensor_proto(array)
        proto.string_val.extend(values)
    else:
        getattr(proto, _NUMERIC[enum][1]).extend(array.ravel().tolist())
    return proto


def input_to_examples(input_proto) -> list[bytes]:
    """Serialized tf.Examples of an `Input`; with a context, context bytes come first.

    Concatenating serialized protos merges them, which is how TF Serving applies the context.
    """
    kind = input_proto.WhichOneof("kind")
    if kind == "example_list":
        return [example.SerializeToString() for example in input_proto.example_list.examples]
    if kind == "example_list_with_context":
        with_context = input_proto.example_list_with_context
        context = with_context.context.SerializeToString()
        return [context + example.SerializeToString() for example in with_context.examples]
    return []


def fill_model_spec(spec, name: str, version: int, signature_name: str | None = None) -> None:
    """Fills a response `ModelSpec` as TF Serving's `MakeModelSpec` does."""
    spec.name = name
    spec.version.value = version
    if signature_name is not None:
        spec.signature_name = signature_name


def status_response(statuses):
    """A `GetModelStatusResponse` for `ModelManager.status` results."""
    from tensorflow_serving.apis import get_model_status_pb2

    response = get_model_status_pb2.GetModelStatusResponse()
    for status in statuses:
        entry = response.model_version_status.add()
        entry.version = status.version
        entry.state = status.state.value
        entry.status.SetInParent()  # TF Serving always reports the status, OK included
        if status.error is not None:
            entry.status.error_code = status.error.code.value[0]
            entry.status.error_message = status.error.message
    return response


def metadata_response(servable):
    """A `GetModelMetadataResponse` with the servable's `signature_def` map."""
    from tensorflow_serving.apis import get_model_metadata_pb2

    response = get_model_metadata_pb2.GetModelMetadataResponse()
    fill_model_spec(response.model_spec, servable.name, servable.version)
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    for key, signature in servable.signature_defs.items():
        signature_map.signature_def[key].CopyFrom(signature)
    response.metadata["signature_def"].Pack(signature_map)
    return response
