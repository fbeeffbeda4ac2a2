"""TF Serving's REST JSON: request bodies to arrays/tf.Examples and results back to JSON.

Mirrors `tensorflow_serving/util/json_tensor.cc`: the same row ("instances") and columnar
("inputs") formats, `{"b64": ...}` for bytes, `NaN`/`Infinity` tokens, the same checks in the
same order and the same error messages (bar the JSON parser's own wording).
"""

from __future__ import annotations

import base64
import binascii
import json
import math

import numpy as np
import orjson

from serving import errors
from serving.servable import dtype_string, numpy_dtype

MAX_RANK = 254  # TensorFlow's TensorShape::MaxDimensions()
MAX_SHOWN_CHARS = 1024
_FLOAT32_MAX = 3.4028234663852886e38
_BASE64_KEY = "b64"
_BASE64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_BYTES_SUFFIX = "_bytes"

# TensorFlow DataType numbers (tensorflow/core/framework/types.proto).
DT_FLOAT, DT_DOUBLE, DT_INT32, DT_UINT8, DT_INT16, DT_INT8, DT_STRING = 1, 2, 3, 4, 5, 6, 7
DT_INT64, DT_BOOL, DT_UINT32, DT_UINT64 = 9, 10, 22, 23


def _json_type(value) -> str:
    if value is None:
        return "Null"
    if value is True:
        return "True"
    if value is False:
        return "False"
    if isinstance(value, dict):
        return "Object"
    if isinstance(value, list):
        return "Array"
    if isinstance(value, str):
        return "String"
    return "Number"


def _first_chars(chunks) -> tuple[str, bool]:
    parts, size = [], 0
    for chunk in chunks:
        parts.append(chunk)
        size += len(chunk)
        if size > MAX_SHOWN_CHARS:
            return "".join(parts)[:MAX_SHOWN_CHARS], True
    return "".join(parts), False


def show(value) -> str:
    """A JSON value as TF Serving prints it in error messages, cut at MAX_SHOWN_CHARS.

    TF Serving prints the whole value with rapidjson's pretty writer (truncating is a TODO in
    its `JsonValueToString`), so a small, deeply nested body made an error message of hundreds
    of megabytes. Here the text is encoded lazily and only up to the limit, so its cost does not
    depend on the value; a value too long for the pretty form is shown compact, then cut.
    """
    try:
        if not isinstance(value, (dict, list)):
            shown, cut = _first_chars(json.JSONEncoder(ensure_ascii=False).iterencode(value))
            return shown + "..." if cut else shown
        pretty = json.JSONEncoder(indent=4, ensure_ascii=False).iterencode(value)
        shown, cut = _first_chars(pretty)
        if not cut:
            return shown
        compact = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).iterencode(value)
        return _first_chars(compact)[0] + "..."
    except RecursionError:
        return f"<{_json_type(value)} nested too deeply to show>"


def _is_b64_object(value) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get(_BASE64_KEY), str)


def _decode_b64(value) -> bytes:
    if not _is_b64_object(value):
        raise errors.invalid_argument(
            f"JSON Value: {show(value)} not formatted correctly for base64 data"
        )
    data = value[_BASE64_KEY].encode("utf-8", "replace")
    data += b"=" * (-len(data) % 4)
    digits = data.rstrip(b"=")
    # `b64decode(validate=True)`'s check, without its regular expression (10x slower).
    if len(data) - len(digits) > 2 or digits.translate(None, _BASE64_ALPHABET):
        raise errors.invalid_argument("Unable to base64 decode")
    try:
        return binascii.a2b_base64(data)
    except binascii.Error:
        raise errors.invalid_argument("Unable to base64 decode") from None


def _type_error(value, dtype: int):
    return errors.invalid_argument(
        f"JSON Value: {show(value)} Type: {_json_type(value)} is not of expected type: "
        f"{dtype_string(dtype)}"
    )


def _lossless(value, digits: int, limit: float) -> bool:
    if isinstance(value, int):
        return abs(value) <= (1 << digits) - 1
    return not math.isfinite(value) or abs(value) <= limit


def _int_checker(low: int, high: int, dtype: int):
    def check(value):
        if type(value) is not int or not low <= value <= high:
            raise _type_error(value, dtype)
        return value

    return check


def _float_checker(digits: int, limit: float, dtype: int, target: str):
    def check(value):
        if type(value) not in (int, float):
            raise _type_error(value, dtype)
        if not _lossless(value, digits, limit):
            raise errors.invalid_argument(
                f"Cannot convert JSON value: {show(value)} to {target} without loss of precision."
            )
        return value

    return check


def _check_bool(value):
    if type(value) is not bool:
        raise _type_error(value, DT_BOOL)
    return value


def _check_string(value):
    if isinstance(value, str):
        try:
            return value.encode("utf-8")
        except UnicodeEncodeError:
            raise errors.invalid_argument(f"JSON Value: {show(value)} is not valid UTF-8") from None
    if isinstance(value, dict):
        return _decode_b64(value)
    raise _type_error(value, DT_STRING)


_CHECKERS = {
    DT_FLOAT: _float_checker(24, _FLOAT32_MAX, DT_FLOAT, "float"),
    DT_DOUBLE: _float_checker(53, float("inf"), DT_DOUBLE, "double"),
    DT_INT32: _int_checker(-(1 << 31), (1 << 31) - 1, DT_INT32),
    DT_INT16: _int_checker(-(1 << 31), (1 << 31) - 1, DT_INT16),
    DT_INT8: _int_checker(-(1 << 31), (1 << 31) - 1, DT_INT8),
    DT_UINT8: _int_checker(-(1 << 31), (1 << 31) - 1, DT_UINT8),
    DT_INT64: _int_checker(-(1 << 63), (1 << 63) - 1, DT_INT64),
    DT_UINT32: _int_checker(0, (1 << 32) - 1, DT_UINT32),
    DT_UINT64: _int_checker(0, (1 << 64) - 1, DT_UINT64),
    DT_BOOL: _check_bool,
    DT_STRING: _check_string,
}


def parse_json(body: bytes) -> dict:
    """The request body as a JSON object (NaN/Infinity allowed, as TF Serving allows them)."""
    if not body:
        raise errors.invalid_argument("JSON Parse error: The document is empty")
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        # orjson rejects NaN/Infinity tokens; the standard parser accepts them.
        try:
            document = json.loads(body)
        except json.JSONDecodeError as exc:
            raise errors.invalid_argument(
                f"JSON Parse error: {exc.msg} at offset: {exc.pos}"
            ) from None
        except (ValueError, RecursionError) as exc:
            raise errors.invalid_argument(f"JSON Parse error: {exc}") from None
    if not isinstance(document, dict):
        raise errors.invalid_argument(f"JSON Value: {show(document)} Is not object")
    return document


def signature_name(document: dict) -> str:
    """The optional `signature_name` ("" when absent)."""
    value = document.get("signature_name", "")
    if not isinstance(value, str):
        raise errors.invalid_argument(
            f"JSON Value: {show(document)} not formatted correctly. "
            "'signature_name' key must be a string value."
        )
    return value


def _dense_shape(value) -> list[int]:
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        if not value or len(shape) > MAX_RANK:
            break
        value = value[0]
    if len(shape) > MAX_RANK:
        raise errors.invalid_argument(f"JSON Value is nested more than {MAX_RANK} levels deep")
    return shape


def _fill(value, level: int, shape: list[int], check, out: list) -> None:
    if not isinstance(value, list):
        if level != len(shape):
            raise errors.invalid_argument(
                f"JSON Value: {show(value)} found at incorrect level: {level + 1} in the JSON DOM. "
                f"Expected at level: {len(shape)}"
            )
        out.append(check(value))
        return
    if level >= len(shape):
        raise errors.invalid_argument(
            f"Encountered list at unexpected level: {level} expected < {len(shape)}"
        )
    if len(value) != shape[level]:
        raise errors.invalid_argument(
            f"Encountered list at unexpected size: {len(value)} at level: {level} "
            f"expected size: {shape[level]}"
        )
    for item in value:
        _fill(item, level + 1, shape, check, out)


def _leaves(value, dtype: int) -> tuple[list, list[int]]:
    check = _CHECKERS.get(dtype)
    if check is None:
        raise errors.unimplemented(
            f"Conversion of JSON Value: {show(value)} to type: {dtype_string(dtype)}"
        )
    shape = _dense_shape(value)
    leaves: list = []
    _fill(value, 0, shape, check, leaves)
    return leaves, shape


def json_to_array(value, dtype: int) -> np.ndarray:
    """One JSON tensor (scalar or nested lists) as an array of the signature's dtype."""
    leaves, shape = _leaves(value, dtype)
    return _to_array(leaves, shape, dtype)


def _to_array(leaves: list, shape: list[int], dtype: int) -> np.ndarray:
    if dtype == DT_STRING:
        array = np.empty(len(leaves), dtype=object)
        array[:] = leaves
        return array.reshape(shape)
    return np.array(leaves, dtype=numpy_dtype(dtype)).reshape(shape)


def _status_text(error: errors.ServingError) -> str:
    return f"{error.code_name}: {error.message}"


def _instances(instances: list, infos: dict) -> dict[str, np.ndarray]:
    def is_object(value) -> bool:
        return isinstance(value, dict) and not _is_b64_object(value)

    if not isinstance(instances[0], dict) and len(infos) > 1:
        raise errors.invalid_argument(
            "instances is a plain list, but expecting list of objects as multiple input tensors "
            "required as per tensorinfo_map"
        )
    as_objects = is_object(instances[0])
    names = sorted(infos)
    columns: dict[str, list] = {name: [] for name in names}
    item_shapes: dict[str, list[int]] = {}

    def add(index: int, name: str, value, key_text: str) -> None:
        if name not in infos:
            error = errors.invalid_argument(f"JSON object: does not have named input: {name}")
            raise errors.invalid_argument(
                f"Failed to process element: {index}{key_text} of 'instances' list. "
                f"Error: {_status_text(error)}"
            )
        try:
            leaves, shape = _leaves(value, infos[name].dtype)
            if name not in item_shapes:
                item_shapes[name] = shape
            elif math.prod(item_shapes[name]) != len(leaves):
                raise errors.invalid_argument(
                    f"Expecting tensor size: {math.prod(item_shapes[name])} but got: {len(leaves)}"
                )
            elif item_shapes[name] != shape:
                raise errors.invalid_argument(
                    f"Expecting shape [{','.join(map(str, item_shapes[name]))}] but got: "
                    f"[{','.join(map(str, shape))}]"
                )
        except errors.ServingError as error:
            raise errors.invalid_argument(
                f"Failed to process element: {index}{key_text} of 'instances' list. "
                f"Error: {_status_text(error)}"
            ) from None
        columns[name].extend(leaves)

    for index, element in enumerate(instances):
        if as_objects:
            if not is_object(element):
                raise errors.invalid_argument(
                    f"Expecting object but got list at item {index} of input list"
                )
            for name, value in element.items():
                add(index, name, value, f" key: {name}")
            if set(element) != set(names):
                raise errors.invalid_argument(
                    f"Failed to process element: {index} of 'instances' list. JSON object: "
                    f"{show(element)} keys must be equal to: {','.join(names)}"
                )
        else:
            if is_object(element):
                raise errors.invalid_argument(
                    f"Expecting value/list but got object at item {index} of input list"
                )
            add(index, names[0], element, "")
    return {
        name: _to_array(columns[name], [len(instances), *item_shapes[name]], infos[name].dtype)
        for name in names
    }


def _columnar(value, infos: dict) -> dict[str, np.ndarray]:
    if not isinstance(value, dict) or _is_b64_object(value):
        if len(infos) > 1:
            raise errors.invalid_argument(
                "inputs is a plain value/list, but expecting an object as multiple input tensors "
                "required as per tensorinfo_map"
            )
        ((name, info),) = infos.items()
        return {name: json_to_array(value, info.dtype)}
    arrays = {}
    for name in sorted(infos):
        if name not in value:
            raise errors.invalid_argument(f"Missing named input: {name} in 'inputs' object.")
        arrays[name] = json_to_array(value[name], infos[name].dtype)
    return arrays


def predict_inputs(document: dict, infos: dict) -> tuple[dict[str, np.ndarray], bool]:
    """The input arrays of a `:predict` body, and whether it used the row format.

    Args:
        document: the parsed body.
        infos: the signature's inputs (`TensorInfo` by input name).
    """
    if not infos:
        raise errors.invalid_argument(
            f"Failed to get input map for signature: {signature_name(document) or 'DEFAULT'}"
        )
    has_instances, has_inputs = "instances" in document, "inputs" in document
    if has_instances and has_inputs:
        raise errors.invalid_argument(
            f"JSON Value: {show(document)} Not formatted correctly expecting only one of "
            "'inputs' or 'instances' keys to exist "
        )
    if has_instances:
        instances = document["instances"]
        if not isinstance(instances, list):
            raise errors.invalid_argument(
                f"JSON Value: {show(document)} Excepting 'instances' to be an list/array"
            )
        if not instances:
            raise errors.invalid_argument(
                f"JSON Value: {show(document)} No values in 'instances' array"
            )
        return _instances(instances, infos), True
    if has_inputs:
        return _columnar(document["inputs"], infos), False
    raise errors.invalid_argument("Missing 'inputs' or 'instances' key")


def _add_value(feature, name: str, value) -> None:
    kind = feature.WhichOneof("kind")

    def expect(wanted: str) -> None:
        if kind not in (None, wanted):
            raise errors.invalid_argument(
                f"Unexpected element type in feature: {name} expecting type: "
                f"{kind.removesuffix('_list')}"
            )

    if (
        value is None
        or isinstance(value, list)
        or (isinstance(value, dict) and not _is_b64_object(value))
    ):
        raise errors.invalid_argument(
            f"Feature: {name} has element with unexpected JSON type: {_json_type(value)}"
        )
    if isinstance(value, bool):
        expect("int64_list")
        feature.int64_list.value.append(int(value))
    elif isinstance(value, dict):
        expect("bytes_list")
        feature.bytes_list.value.append(_decode_b64(value))
    elif isinstance(value, str):
        expect("bytes_list")
        feature.bytes_list.value.append(_check_string(value))
    elif isinstance(value, float):
        expect("float_list")
        if not _lossless(value, 24, _FLOAT32_MAX):
            raise errors.invalid_argument(
                f"Cannot convert JSON value: {show(value)} to float without loss of precision."
            )
        feature.float_list.value.append(value)
    else:
        expect("int64_list")
        if not -(1 << 63) <= value < (1 << 63):
            raise errors.invalid_argument(
                f"Feature: {name} has uint64 element. Only int64 is supported."
            )
        feature.int64_list.value.append(value)


def _example(value):
    from tensorflow.core.example import example_pb2

    if not isinstance(value, dict):
        raise errors.invalid_argument(
            f"Example must be JSON object but got JSON {_json_type(value)}"
        )
    example = example_pb2.Example()
    for name, content in value.items():
        feature = example.features.feature[name]
        for item in content if isinstance(content, list) else [content]:
            _add_value(feature, name, item)
    return example


def examples_from_json(document: dict) -> list[bytes]:
    """Serialized tf.Examples of a `:classify`/`:regress` body, the context merged into each."""
    context = b""
    if "context" in document:
        context = _example(document["context"]).SerializeToString()
    if "examples" not in document:
        raise errors.invalid_argument(
            f"JSON Value: {show(document)} When method is classify, key 'examples' is expected and "
            "was not found"
        )
    examples = document["examples"]
    if not isinstance(examples, list):
        raise errors.invalid_argument(
            f"JSON Value: {show(document)} Expecting 'examples' value to be an list/array"
        )
    if not examples:
        raise errors.invalid_argument(
            f"JSON Value: {show(document)} 'examples' value is an empty array"
        )
    return [context + _example(item).SerializeToString() for item in examples]


def _output_values(name: str, array: np.ndarray):
    if array.dtype.kind in ("O", "S"):
        if name.endswith(_BYTES_SUFFIX):
            flat = [
                {_BASE64_KEY: base64.b64encode(bytes(v)).decode("ascii")} for v in array.reshape(-1)
            ]
        else:
            flat = [bytes(v).decode("utf-8", "replace") for v in array.reshape(-1)]
        return np.array(flat, dtype=object).reshape(array.shape).tolist() if array.ndim else flat[0]
    return array


def dumps(document, finite: bool) -> bytes:
    """`document` (numpy arrays allowed) as JSON; `finite`: it holds no NaN or infinity.

    Non-finite numbers are written as TF Serving writes and reads them: `NaN`, `Infinity`.
    """
    if finite:
        try:
            return orjson.dumps(document, option=orjson.OPT_SERIALIZE_NUMPY)
        except orjson.JSONEncodeError:
            pass
    # orjson writes NaN/Infinity as null; TF Serving writes the NaN/Infinity tokens.
    return json.dumps(document, default=lambda value: value.tolist()).encode("utf-8")


def predict_response(outputs: dict[str, np.ndarray], row_format: bool) -> bytes:
    """`{"predictions": ...}` (row format) or `{"outputs": ...}` (columnar) for Predict outputs."""
    if not outputs:
        raise errors.invalid_argument("Cannot convert empty tensor map to JSON")
    values = {name: _output_values(name, array) for name, array in sorted(outputs.items())}
    finite = all(np.isfinite(a).all() for a in outputs.values() if a.dtype.kind in ("f", "c"))
    if not row_format:
        body = values if len(values) > 1 else next(iter(values.values()))
        return dumps({"outputs": body}, finite)
    batch = None
    for name, array in sorted(outputs.items()):
        if array.ndim == 0:
            raise errors.invalid_argument(f"Tensor name: {name} has no shape information ")
        if batch is not None and array.shape[0] != batch:
            raise errors.invalid_argument(
                f"Tensor name: {name} has inconsistent batch size: {array.shape[0]} "
                f"expecting: {batch}"
            )
        batch = array.shape[0]
    if len(values) == 1:
        return dumps({"predictions": next(iter(values.values()))}, finite)
    rows = [{name: value[i] for name, value in values.items()} for i in range(batch)]
    return dumps({"predictions": rows}, finite)


def classify_response(classes: np.ndarray | None, scores: np.ndarray | None) -> bytes:
    """`{"results": [[[label, score], ...], ...]}` for Classify outputs."""
    reference = classes if classes is not None else scores
    if reference is None or reference.shape[0] == 0:
        raise errors.invalid_argument("Cannot convert empty ClassificationResults to JSON")
    if scores is None:
        scores = np.zeros(reference.shape, dtype=np.float32)
    results = []
    for row in range(reference.shape[0]):
        pairs = []
        for column in range(reference.shape[1]):
            label = (
                bytes(classes[row, column]).decode("utf-8", "replace")
                if classes is not None
                else ""
            )
            pairs.append([label, scores[row, column]])
        results.append(pairs)
    return dumps({"results": results}, bool(np.isfinite(scores).all()))


def regress_response(values: np.ndarray) -> bytes:
    """`{"results": [v1, v2, ...]}` for Regress outputs."""
    if values.size == 0:
        raise errors.invalid_argument("Cannot convert empty RegressionResults to JSON")
    return dumps({"results": values}, bool(np.isfinite(values).all()))


def error_body(message: str) -> bytes:
    """TF Serving's error body: `{"error": "<message>"}`, the message cut as `errors.bounded`."""
    return json.dumps({"error": errors.bounded(message)}).encode("utf-8")
