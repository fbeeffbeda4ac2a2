"""One loaded model version and TF Serving's Predict, Classify and Regress semantics on it.

Like TF Serving's `SavedModelBundle`, the SavedModel is loaded into a TensorFlow session and a
signature runs as one session call that feeds and fetches the `SignatureDef`'s tensor names:
the same graph and results as calling the signature as an eager function, at about half the
cost for a one-row request (see benchmarks/README.md, "Serving"). The `SignatureDef`s (for
metadata and input checks) are read from `saved_model.pb` itself, exactly as TF Serving returns
them. Checks and messages follow TF Serving's `predict_util.cc`, `classifier.cc` and
`regressor.cc`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np

from serving import errors

PREDICT_METHOD = "tensorflow/serving/predict"
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"
DEFAULT_SIGNATURE = "serving_default"
CLASSIFY_INPUTS = "inputs"
CLASSIFY_CLASSES = "classes"
CLASSIFY_SCORES = "scores"
REGRESS_INPUTS = "inputs"
REGRESS_OUTPUTS = "outputs"
SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")

Runner = Callable[[str, dict], dict]


def dtype_string(dtype_enum: int) -> str:
    """TensorFlow's `DataTypeString`: `DT_FLOAT` -> `float`."""
    from tensorflow.core.framework import types_pb2

    return types_pb2.DataType.Name(dtype_enum).removeprefix("DT_").lower()


def dtype_name(dtype_enum: int) -> str:
    """TensorFlow's `DataType_Name`: `DT_FLOAT`."""
    from tensorflow.core.framework import types_pb2

    return types_pb2.DataType.Name(dtype_enum)


def numpy_dtype(dtype_enum: int) -> np.dtype:
    """The numpy dtype holding values of a TensorFlow dtype (strings as Python bytes)."""
    import tensorflow as tf

    return np.dtype(tf.dtypes.as_dtype(dtype_enum).as_numpy_dtype)


def array_dtype_enum(array: np.ndarray) -> int:
    """The TensorFlow dtype of a numpy array; object and bytes arrays are strings."""
    import tensorflow as tf

    if array.dtype.kind in ("O", "S", "U"):
        return tf.string.as_datatype_enum
    return tf.dtypes.as_dtype(array.dtype).as_datatype_enum


def shape_string(dims: Sequence[int]) -> str:
    """A shape as TF Serving prints it, e.g. `[2,3]`."""
    return "[" + ",".join(str(d) for d in dims) + "]"


def saved_model_file(export_dir: str) -> str | None:
    """The `saved_model.pb(txt)` in `export_dir`, or None while it is not written yet."""
    import tensorflow as tf

    for name in SAVED_MODEL_FILES:
        path = f"{export_dir.rstrip('/')}/{name}"
        if tf.io.gfile.exists(path):
            return path
    return None


def read_signature_defs(export_dir: str, tags: Sequence[str] = ("serve",)) -> dict:
    """The `SignatureDef` map of the meta graph tagged `tags`, parsed from the SavedModel file."""
    import tensorflow as tf
    from google.protobuf import message, text_format
    from tensorflow.core.protobuf import saved_model_pb2

    path = saved_model_file(export_dir)
    if path is None:
        raise errors.not_found(f"SavedModel file does not exist at: {export_dir}")
    data = tf.io.gfile.GFile(path, "rb").read()
    saved_model = saved_model_pb2.SavedModel()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if path.endswith(".pbtxt"):
                text_format.Parse(data.decode("utf-8"), saved_model)
            else:
                saved_model.ParseFromString(data)
    except (message.DecodeError, text_format.ParseError, UnicodeDecodeError):
        raise errors.data_loss(f"Can't parse {path} as binary proto") from None
    # protobuf only warns about some garbage ("Unexpected end-group tag"); that is corrupt too.
    if not saved_model.meta_graphs or any(issubclass(w.category, RuntimeWarning) for w in caught):
        raise errors.data_loss(f"Can't parse {path} as binary proto")
    for meta_graph in saved_model.meta_graphs:
        if set(meta_graph.meta_info_def.tags) == set(tags):
            return dict(meta_graph.signature_def)
    raise errors.not_found(
        f"Could not find meta graph def matching supplied tags: {{ {' '.join(tags)} }}. "
        "To inspect available tag-sets in the SavedModel, please use the SavedModel CLI: "
        "`saved_model_cli`"
    )


class SignatureCall:
    """Runs one `SignatureDef` in a session: feeds its inputs, fetches its outputs by name."""

    def __init__(self, session, signature):
        from tensorflow.core.protobuf import config_pb2

        self._inputs = sorted(signature.inputs)
        fed = {signature.inputs[key].name: key for key in self._inputs}
        # A session cannot fetch a tensor it is fed: such an output is that input, unchanged.
        self._echoed = {key: fed[info.name] for key, info in signature.outputs.items() if info.name in fed}
        self._fetched = sorted(set(signature.outputs) - set(self._echoed))
        options = config_pb2.CallableOptions(
            feed=[signature.inputs[key].name for key in self._inputs],
            fetch=[signature.outputs[key].name for key in self._fetched],
        )
        # The public `make_callable` goes through `Session.run`'s feed handling (~0.2 ms a call).
        self._call = session._make_callable_from_options(options) if self._fetched else None

    def __call__(self, inputs: dict) -> dict:
        values = self._call(*(inputs[key] for key in self._inputs)) if self._call else []
        outputs = dict(zip(self._fetched, values, strict=True))
        outputs.update((key, inputs[name]) for key, name in self._echoed.items())
        return outputs


def _session_config():
    import tensorflow as tf

    return tf.compat.v1.ConfigProto(
        allow_soft_placement=True,
        inter_op_parallelism_threads=tf.config.threading.get_inter_op_parallelism_threads(),
        intra_op_parallelism_threads=tf.config.threading.get_intra_op_parallelism_threads(),
    )


class Servable:
    """A model version ready to answer requests; safe to call from many threads."""

    def __init__(
        self,
        name: str,
        version: int,
        path: str,
        signature_defs: dict,
        calls: dict[str, Callable[[dict], dict]],
    ):
        self.name = name
        self.version = version
        self.path = path
        self.signature_defs = signature_defs
        self._calls = calls
        # None runs unbatched; a bound method stored here would make a cycle that only a full
        # garbage collection frees, keeping an unloaded version's session (and weights) alive.
        self._runner: Runner | None = None

    @classmethod
    def load(cls, name: str, version: int, path: str, tags: Sequence[str] = ("serve",)) -> Servable:
        """Loads one version directory. Raises ServingError with TF's code when it cannot."""
        import tensorflow as tf
        from tensorflow.python.util import deprecation

        signature_defs = read_signature_defs(path, tags)
        # The session (freed with the last reference to it) owns the variables and tables.
        session = tf.compat.v1.Session(graph=tf.Graph(), config=_session_config())
        try:
            # TF Serving's loader; it is "deprecated" only in favour of the eager one.
            with session.graph.as_default(), deprecation.silence():
                tf.compat.v1.saved_model.load(session, list(tags), path)
        except tf.errors.OpError as exc:
            raise errors.from_tensorflow(exc) from None
        except (ValueError, OSError, RuntimeError) as exc:
            raise errors.unknown(f"Failed to load SavedModel: {exc}") from None
        session.graph.finalize()
        calls = {}
        for key, signature in signature_defs.items():
            try:
                calls[key] = SignatureCall(session, signature)
            except (tf.errors.OpError, ValueError, TypeError):
                continue  # e.g. `__saved_model_init_op`, which names an op, not a tensor to fetch
        return cls(name, version, path, signature_defs, calls)

    def set_runner(self, runner: Runner) -> None:
        """Routes signature runs through `runner` (e.g. a dynamic batcher)."""
        self._runner = runner

    def close(self) -> None:
        """Stops the batching threads, if any, once queued requests are answered.

        The batcher refers back to this servable; dropping it lets the version be freed as
        soon as the last request using it is answered.
        """
        runner, self._runner = self._runner, None
        close = getattr(runner, "close", None)
        if close is not None:
            close()

    def run_unbatched(self, signature_name: str, inputs: dict) -> dict:
        """Runs one signature on already checked inputs; returns numpy outputs."""
        import tensorflow as tf

        call = self._calls.get(signature_name)
        if call is None:
            raise errors.failed_precondition(f'Serving signature key "{signature_name}" not found.')
        try:
            return call(inputs)
        except tf.errors.OpError as exc:
            raise errors.from_tensorflow(exc) from None
        except (TypeError, ValueError) as exc:
            raise errors.invalid_argument(str(exc)) from None

    def run(self, signature_name: str, inputs: dict) -> dict:
        """Checks `inputs` against the signature, then runs it (batched when enabled)."""
        self._check_inputs(signature_name, self.signature_defs[signature_name], inputs)
        return (self._runner or self.run_unbatched)(signature_name, inputs)

    def check_input_names(self, signature_name: str, names) -> None:
        """TF Serving's `VerifyRequestInputsSize`, on the request's input names."""
        expected = self.signature_defs[signature_name].inputs
        if set(names) != set(expected):
            sent, wanted = sorted(names), sorted(expected)
            raise errors.invalid_argument(
                f"input size does not match signature: {len(sent)}!={len(wanted)} "
                f"len({{{','.join(sent)}}}) != len({{{','.join(wanted)}}}). "
                f"Sent extra: {{{','.join(sorted(set(sent) - set(wanted)))}}}. "
                f"Missing but required: {{{','.join(sorted(set(wanted) - set(sent)))}}}."
            )

    def _check_inputs(self, signature_name: str, signature, inputs: dict) -> None:
        self.check_input_names(signature_name, inputs)
        expected = signature.inputs
        for index, key in enumerate(sorted(expected)):
            info, array = expected[key], inputs[key]
            given = array_dtype_enum(array)
            if given != info.dtype:
                raise errors.invalid_argument(
                    f"Expects arg[{index}] to be {dtype_string(info.dtype)} but "
                    f"{dtype_string(given)} is provided"
                )
            shape = info.tensor_shape
            if shape.unknown_rank:
                continue
            wanted_dims = [dim.size for dim in shape.dim]
            if len(wanted_dims) != array.ndim or any(
                want >= 0 and want != got
                for want, got in zip(wanted_dims, array.shape, strict=False)
            ):
                wanted_text = shape_string(["?" if d < 0 else d for d in wanted_dims])
                raise errors.invalid_argument(
                    f"Input '{key}' of signature '{signature_name}' has shape "
                    f"{shape_string(array.shape)} but the signature expects {wanted_text}"
                )

    def predict(self, signature_name: str, inputs: dict, output_filter: Sequence[str] = ()):
        """TF Serving's Predict: returns (signature name used, {output alias: array})."""
        name = self.predict_signature(signature_name, output_filter)
        outputs = self.run(name, inputs)
        if output_filter:
            outputs = {alias: outputs[alias] for alias in output_filter}
        return name, outputs

    def predict_signature(self, signature_name: str, output_filter: Sequence[str] = ()) -> str:
        """The signature a Predict request runs, after TF Serving's signature checks."""
        name = signature_name or DEFAULT_SIGNATURE
        signature = self.signature_defs.get(name)
        if signature is None:
            raise errors.failed_precondition(f'Serving signature key "{name}" not found.')
        if signature.method_name not in (PREDICT_METHOD, CLASSIFY_METHOD, REGRESS_METHOD):
            raise errors.internal(
                "Expected prediction signature method_name to be one of "
                f"{{{PREDICT_METHOD}, {CLASSIFY_METHOD}, {REGRESS_METHOD}}}. "
                f"Was: {signature.method_name}"
            )
        seen: set[str] = set()
        for alias in output_filter:
            if alias not in signature.outputs:
                raise errors.invalid_argument(
                    f"output tensor alias not found in signature: {alias} Outputs expected to be "
                    f"in the set {{{','.join(sorted(signature.outputs))}}}."
                )
            if alias in seen:
                raise errors.invalid_argument(f"duplicate output tensor alias: {alias}")
            seen.add(alias)
        return name

    def _example_signature(self, signature_name: str, method: str, kind: str):
        name = signature_name or DEFAULT_SIGNATURE
        signature = self.signature_defs.get(name)
        if signature is None:
            raise errors.invalid_argument(f"No signature was found with the name: {name}")
        if signature.method_name != method:
            raise errors.invalid_argument(
                f"Expected {kind} signature method_name to be {method}. "
                f"Was: {signature.method_name}"
            )
        if len(signature.inputs) != 1:
            raise errors.invalid_argument("Expected one input Tensor.")
        return name, signature

    def _run_examples(self, name: str, input_key: str, examples: Sequence[bytes]) -> dict:
        if not examples:
            raise errors.invalid_argument("Input is empty.")
        batch = np.empty(len(examples), dtype=object)
        batch[:] = list(examples)
        return self.run(name, {input_key: batch})

    def classify(self, signature_name: str, examples: Sequence[bytes]):
        """TF Serving's Classify on serialized tf.Examples: (signature name, classes, scores)."""
        name, signature = self._example_signature(signature_name, CLASSIFY_METHOD, "classification")
        if len(signature.outputs) not in (1, 2):
            raise errors.invalid_argument(
                f"Expected one or two output Tensors, found {len(signature.outputs)}"
            )
        if CLASSIFY_INPUTS not in signature.inputs:
            raise errors.failed_precondition(
                f"No classification inputs found in SignatureDef: {signature}"
            )
        if CLASSIFY_CLASSES not in signature.outputs and CLASSIFY_SCORES not in signature.outputs:
            raise errors.failed_precondition(
                'Expected classification signature outputs to contain at least one of "classes" '
                f'or "scores". Signature was: {signature}'
            )
        outputs = self._run_examples(name, CLASSIFY_INPUTS, examples)
        classes, scores = outputs.get(CLASSIFY_CLASSES), outputs.get(CLASSIFY_SCORES)
        for label, tensor, kind in (
            (CLASSIFY_CLASSES, classes, "DT_STRING"),
            (CLASSIFY_SCORES, scores, "DT_FLOAT"),
        ):
            if tensor is None:
                continue
            if tensor.ndim != 2:
                raise errors.invalid_argument(
                    "Expected Tensor shape: [batch_size num_classes] but got "
                    f"{shape_string(tensor.shape)}"
                )
            got = dtype_name(array_dtype_enum(tensor))
            if got != kind:
                raise errors.invalid_argument(f"Expected {label} Tensor of {kind}. Got: {got}")
            if tensor.shape[0] != len(examples):
                raise errors.invalid_argument(
                    f"Expected {label} output batch size of {len(examples)}. Got: {tensor.shape[0]}"
                )
        if classes is not None and scores is not None and classes.shape[1] != scores.shape[1]:
            raise errors.invalid_argument(
                "Tensors class and score should match in dim_size(1). "
                f"Got {classes.shape[1]} vs. {scores.shape[1]}"
            )
        return name, classes, scores

    def regress(self, signature_name: str, examples: Sequence[bytes]):
        """TF Serving's Regress on serialized tf.Examples: (signature name, float values)."""
        name, signature = self._example_signature(signature_name, REGRESS_METHOD, "regression")
        if len(signature.outputs) != 1:
            raise errors.invalid_argument("Expected one output Tensor.")
        if REGRESS_INPUTS not in signature.inputs:
            raise errors.failed_precondition(
                f"No regression inputs found in SignatureDef: {signature}"
            )
        if REGRESS_OUTPUTS not in signature.outputs:
            raise errors.failed_precondition(
                f"No regression outputs found in SignatureDef: {signature}"
            )
        values = self._run_examples(name, REGRESS_INPUTS, examples)[REGRESS_OUTPUTS]
        if not (values.ndim == 1 or (values.ndim == 2 and values.shape[1] == 1)):
            raise errors.invalid_argument(
                "Expected output Tensor shape to be either [batch_size] or [batch_size, 1] but got "
                f"{shape_string(values.shape)}"
            )
        if values.shape[0] != len(examples):
            raise errors.invalid_argument(
                "Input batch size did not match output batch size: "
                f"{len(examples)} vs. {values.shape[0]}"
            )
        if values.dtype != np.float32:
            raise errors.invalid_argument(
                f"Expected output Tensor of DT_FLOAT.  Got: {dtype_name(array_dtype_enum(values))}"
            )
        return name, values.reshape(-1)
