"""Conversions between TF Serving's request/response protos and numpy arrays."""

from __future__ import annotations

import math

import numpy as np

from serving import errors

# Dtypes a request tensor may carry; resource/variant handles and DT_INVALID are refused.
_UNSUPPORTED_DTYPES = {0, 20, 21}


def tensor_to_array(proto, max_elements: int) -> np.ndarray:
    """A request `TensorProto` as a numpy array (strings as bytes objects).

    Raises:
        ServingError: INVALID_ARGUMENT when the proto is not a valid dense tensor or would
            expand to more than `max_elements` values.
    """
    import tensorflow as tf

    dims = [dim.size for dim in proto.tensor_shape.dim]
    if (
        proto.dtype in _UNSUPPORTED_DTYPES
        or proto.tensor_shape.unknown_rank
        or any(d < 0 for d in dims)
    ):
        raise errors.invalid_argument("Unable to parse tensor proto")
    if math.prod(dims) > max_elements:
        raise errors.invalid_argument(
            f"Tensor with shape [{','.join(map(str, dims))}] has more than {max_elements} elements"
        )
    try:
        return tf.make_ndarray(proto)
    except (TypeError, ValueError, KeyError, IndexError):
        raise errors.invalid_argument("Unable to parse tensor proto") from None


def array_to_tensor(array: np.ndarray):
    """A numpy array (or nested list) as a `TensorProto`."""
    import tensorflow as tf

    return tf.make_tensor_proto(array)


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


def request_inputs(request, max_elements: int) -> dict[str, np.ndarray]:
    """The inputs of a `PredictRequest` as numpy arrays."""
    return {key: tensor_to_array(tensor, max_elements) for key, tensor in request.inputs.items()}


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
