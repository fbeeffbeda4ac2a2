"""Scores the eval split with each SavedModel's serving signature, in one pass over the data.

What TF Serving would answer is what the gate judges: each model's ``serving_default``
signature (serialized tf.Examples in, `click_probability` out) on batches of the eval split's
examples, both models on the same batch. The label and the slice columns are parsed from the
same records, so predictions, labels and slices stay aligned row by row.

A model that answers a batch with other than one value per row gets no prediction for that
batch's rows (`gate.WRONG_SHAPE`); a batch its signature fails on is scored again in halves,
and the single rows it still fails on get none (`gate.SIGNATURE_FAILED`). The gate counts them.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable

import numpy as np

from components.evaluate.gate import SIGNATURE_FAILED, WRONG_SHAPE, GateSettings, Scored, judge, new_value_mask
from components.evaluation_results import BASELINE, CANDIDATE, Evaluation

SIGNATURE = "serving_default"
BATCH_SIZE = 1024
Scorer = Callable[[object], np.ndarray]


class ModelLoadError(RuntimeError):
    """A model cannot be loaded or scored; the message names it and its folder."""


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300]}" if text else type(exc).__name__


def load_scorer(saved_model_dir: str, name: str) -> Scorer:
    """A function from a batch of serialized tf.Examples to click probabilities.

    Args:
        saved_model_dir: the SavedModel folder.
        name: the model in words for errors, e.g. "the model in production, version 17...".

    Raises:
        ModelLoadError: the folder holds no loadable SavedModel with the serving signature.
    """
    import tensorflow as tf

    try:
        loaded = tf.saved_model.load(saved_model_dir)
        signature = loaded.signatures[SIGNATURE]
    except (KeyError, OSError, ValueError, tf.errors.OpError) as exc:
        raise ModelLoadError(f"{name} at {saved_model_dir} cannot be loaded: {_first_line(exc)}") from None
    [input_name] = signature.structured_input_signature[1]
    # The signature's one output, whatever the dataset names it (dataset.prediction).
    [output_name] = signature.structured_outputs

    # `loaded` must outlive the signature: it owns the variables.
    def score(batch, _owner=loaded) -> np.ndarray:
        outputs = signature(**{input_name: batch})
        return np.asarray(outputs[output_name].numpy())

    return score


def _one_per_row(values: np.ndarray, rows: int) -> np.ndarray | None:
    """The output as one float per row, or None when its shape is not [rows] or [rows, 1]."""
    if values.ndim == 0 or values.shape[0] != rows or values.size != rows:
        return None
    try:
        return values.reshape(-1).astype(np.float64)
    except (TypeError, ValueError):
        return None


def _score_batch(score: Scorer, batch) -> tuple[np.ndarray, np.ndarray]:
    """One model's predictions of a batch and, per row, why it has none ("" where it has one).

    A batch the signature fails on is halved until the rows it fails on are found alone, so a
    few bad rows cost a few dozen calls, not one per row.
    """
    import tensorflow as tf

    rows = int(batch.shape[0])
    try:
        values = _one_per_row(score(batch), rows)
    except tf.errors.OpError:
        if rows == 1:
            return np.full(1, np.nan), np.full(1, SIGNATURE_FAILED, dtype=object)
        halves = [_score_batch(score, part) for part in (batch[: rows // 2], batch[rows // 2:])]
        return np.concatenate([h[0] for h in halves]), np.concatenate([h[1] for h in halves])
    if values is None:
        return np.full(rows, np.nan), np.full(rows, WRONG_SHAPE, dtype=object)
    return values, np.full(rows, "", dtype=object)


def _files(pattern: str) -> list[str]:
    import tensorflow as tf

    files = sorted(tf.io.gfile.glob(pattern))
    if not files:
        raise ValueError(f"no examples match {pattern}")
    return files


def _records(pattern: str, batch_size: int):
    import tensorflow as tf

    files = _files(pattern)
    # ExampleGen writes gzipped TFRecords (`*.gz`).
    compression = "GZIP" if all(f.endswith(".gz") for f in files) else ""
    return tf.data.TFRecordDataset(files, compression_type=compression).batch(batch_size)


def _parse_spec(columns: dict[str, str]) -> dict:
    import tensorflow as tf

    dtypes = {"bytes": tf.string, "float": tf.float32, "int": tf.int64}
    return {name: tf.io.FixedLenFeature([], dtypes[kind]) for name, kind in columns.items()}


def _as_text(values: np.ndarray) -> np.ndarray:
    if values.dtype == object:
        return np.array([v.decode("utf-8", "replace") for v in values], dtype=str)
    return values.astype(str)


def _typed_column(values: np.ndarray) -> np.ndarray:
    return _as_text(values) if values.dtype == object else values


def score_split(pattern: str, scorers: dict[str, Scorer], settings: GateSettings,
                batch_size: int = BATCH_SIZE) -> Scored:
    """Labels, slice columns, row keys and every model's predictions of the examples matching `pattern`.

    Rows a model gives no usable output for are marked in `Scored.failed`, not raised: the gate
    decides what they mean (a broken candidate is not blessed, a broken production model is
    not compared against).

    Raises:
        ValueError: no file matches, or an example lacks the label or a slice column.
    """
    import tensorflow as tf

    spec = _parse_spec({settings.label: "int", **settings.column_kinds})
    key = settings.key_column
    if key and key not in spec:
        spec[key] = tf.io.FixedLenFeature([], tf.string, default_value=b"")
    labels, keys, columns = [], [], {name: [] for name in settings.column_kinds}
    predictions = {name: [] for name in scorers}
    failed = {name: [] for name in scorers}
    for batch in _records(pattern, batch_size):
        try:
            parsed = tf.io.parse_example(batch, spec)
        except tf.errors.InvalidArgumentError as exc:
            raise ValueError(f"examples in {pattern} do not carry the label and slice columns: "
                             f"{_first_line(exc)}") from None
        labels.append(parsed[settings.label].numpy())
        if key:
            keys.append(_as_text(parsed[key].numpy()))
        for name in columns:
            columns[name].append(parsed[name].numpy())
        for name, score in scorers.items():
            values, reasons = _score_batch(score, batch)
            predictions[name].append(values)
            failed[name].append(reasons)
    join = np.concatenate
    return Scored(
        labels=join(labels) if labels else np.zeros(0, np.int64),
        predictions={name: join(p) if p else np.zeros(0) for name, p in predictions.items()},
        columns={name: _typed_column(join(v)) if v else np.zeros(0, dtype=str) for name, v in columns.items()},
        failed={name: join(f) if f else np.zeros(0, dtype=object) for name, f in failed.items()},
        keys=np.char.add(f"{key}=", join(keys)) if key and keys else None,
    )


def distinct_values(pattern: str, column: str, kind: str, batch_size: int = 4096) -> set[str]:
    """The values of one column over the examples matching `pattern`, as text."""
    import tensorflow as tf

    spec = _parse_spec({column: kind})
    found: set[str] = set()
    for batch in _records(pattern, batch_size):
        found.update(_as_text(np.unique(tf.io.parse_example(batch, spec)[column].numpy())).tolist())
    return found


def score(eval_pattern: str, candidate_dir: str, baseline_dir: str | None, settings: GateSettings,
          train_pattern: str = "", baseline_name: str = "the baseline model") -> tuple[Scored, GateSettings]:
    """Scores both models on the eval split: what `gate.judge` and the TFMA export read.

    Args:
        eval_pattern: the eval examples (raw tf.Examples, gzipped or not).
        candidate_dir: the candidate SavedModel.
        baseline_dir: the production SavedModel; None on a first run.
        settings: the rule, label and columns.
        train_pattern: the training examples the candidate learnt from, for the new-values
            slice; "" leaves that slice out.
        baseline_name: the baseline in words, for errors (e.g. its version).

    Returns:
        The scored rows and the settings they were scored with (without the new-values
        column when there is no train split).

    Raises:
        ModelLoadError: a model cannot be loaded (named in the message).
        ValueError: no examples match, or they lack a column.
    """
    scorers = {CANDIDATE: load_scorer(candidate_dir, "the candidate model")}
    if baseline_dir:
        scorers[BASELINE] = load_scorer(baseline_dir, baseline_name)
    if not train_pattern:
        settings = dataclasses.replace(settings, new_column="")
    column = settings.new_column
    if column:
        settings = dataclasses.replace(settings, column_kinds={column: "bytes", **settings.column_kinds})
    scored = score_split(eval_pattern, scorers, settings)
    if column:
        known = distinct_values(train_pattern, column, settings.column_kinds[column])
        scored = dataclasses.replace(scored, new=new_value_mask(scored.columns[column], known))
    return scored, settings


def evaluate(eval_pattern: str, candidate_dir: str, baseline_dir: str | None, settings: GateSettings,
             train_pattern: str = "", baseline_name: str = "the baseline model") -> Evaluation:
    """Scores both models on the eval split and applies the gate's rule (arguments as `score`).

    Raises:
        ModelLoadError: a model cannot be loaded (named in the message).
        ValueError: no examples match, or they lack a column.
    """
    return judge(*score(eval_pattern, candidate_dir, baseline_dir, settings, train_pattern, baseline_name))


def split_pattern(examples_uri: str, split: str) -> str:
    """The file pattern of one split of an Examples artifact."""
    return os.path.join(examples_uri, f"Split-{split}", "*")
