"""Artifacts for ValidateServing and PushModel tests: a tiny candidate and an eval split.

The candidate is the serving tests' conformance model (tests/serving/models.py), which has the
trainer's four signatures over two raw features, `x` (float) and `k` (string). Some `k` values
are PNG-like binary bytes, so REST requests must carry them as `{"b64": ...}`, as they carry
the creative of the real model.
"""

from __future__ import annotations

from pathlib import Path

from tests.serving import models

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
LABEL = "clicked"
EXAMPLE_ID = "impression_id"


def eval_rows(count: int) -> list[dict]:
    """Rows with both raw features, a label and an id; every third `k` is binary."""
    return [
        {
            EXAMPLE_ID: f"imp-{i}",
            "x": (i - count / 2) / 3.0,
            "k": PNG_SIGNATURE + bytes([i]) if i % 3 == 0 else "ad-title " * (i % 4),
            LABEL: i % 2,
        }
        for i in range(count)
    ]


def serialize(row: dict) -> bytes:
    """One row as a serialized tf.Example, as ingestion writes it."""
    import tensorflow as tf

    feature = {}
    for key, value in row.items():
        if isinstance(value, (str, bytes)):
            data = value if isinstance(value, bytes) else value.encode()
            feature[key] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[data]))
        elif isinstance(value, int):
            feature[key] = tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))
        else:
            feature[key] = tf.train.Feature(float_list=tf.train.FloatList(value=[value]))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def write_examples(uri: Path, count: int = 12) -> Path:
    """An Examples folder with `Split-eval/` gzipped TFRecords (and an empty train split)."""
    import tensorflow as tf

    for split, rows in (("eval", eval_rows(count)), ("train", [])):
        folder = uri / f"Split-{split}"
        folder.mkdir(parents=True, exist_ok=True)
        with tf.io.TFRecordWriter(str(folder / "data_tfrecord-00000-of-00001.gz"), "GZIP") as w:
            for row in rows:
                w.write(serialize(row))
    return uri


def write_model(uri: Path) -> Path:
    """A Trainer-like Model folder: the SavedModel in `Format-Serving/`."""
    models.build_version(uri / "Format-Serving", 1)
    return uri


def truncate_saved_model(model_uri: Path) -> None:
    """Cuts the candidate's `saved_model.pb` in half, as an interrupted copy would."""
    path = model_uri / "Format-Serving" / "saved_model.pb"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def model_artifact(uri: Path):
    from tfx.types import standard_artifacts

    artifact = standard_artifacts.Model()
    artifact.uri = str(uri)
    return artifact


def examples_artifact(uri: Path):
    from tfx.types import artifact_utils, standard_artifacts

    artifact = standard_artifacts.Examples()
    artifact.uri = str(uri)
    artifact.split_names = artifact_utils.encode_split_names(["train", "eval"])
    return artifact


def blessing_artifact(uri: Path):
    from tfx.types import standard_artifacts

    artifact = standard_artifacts.InfraBlessing()
    artifact.uri = str(uri)
    return artifact


def validate(model_uri: Path, examples_uri: Path, blessing_uri: Path, num_requests: int = 8):
    """Runs ValidateServing's executor directly; returns the InfraBlessing artifact."""
    from components.validate_serving import executor

    blessing = blessing_artifact(blessing_uri)
    executor.Executor().Do(
        {executor.MODEL_KEY: [model_artifact(model_uri)],
         executor.EXAMPLES_KEY: [examples_artifact(examples_uri)]},
        {executor.BLESSING_KEY: [blessing]},
        {executor.NUM_REQUESTS_KEY: num_requests},
    )
    return blessing
