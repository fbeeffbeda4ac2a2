"""Tiny SavedModels with the clickpipe model contract, built in a second, for serving tests.

Each version answers `sigmoid(slope * x + 0.1 * len(k))` (slope 0.5 for v1, 1.0 for v2) so a
test can tell which version answered. Signatures, as the trainer exports them:

- `serving_default` (predict): `examples` serialized tf.Example -> `click_probability` [None, 1]
- `predict_raw` (predict): `x` float32 [None], `k` string [None] -> `click_probability`
- `classify` (classify): `inputs` -> `classes` string [None, 2], `scores` float32 [None, 2]
- `regress` (regress): `inputs` -> `outputs` float32 [None]
- `echo` (predict): `image_bytes` string, `x` float32 -> `image_bytes`, `length` int64,
  `x_doubled` float32 (bytes and multi-output cases)

Run `python -m tests.serving.models OUT_DIR` to write the conformance model tree and a
`models.config` for a real TF Serving (see docs/serving.md).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

MODEL_NAME = "conformance"
SLOPES = {1: 0.5, 2: 1.0}
LABELS = {"stable": 1, "canary": 2}


def expected_probability(version: int, x: float, k: str) -> float:
    """What version `version` answers for one row."""
    return 1.0 / (1.0 + math.exp(-(SLOPES[version] * x + 0.1 * len(k.encode()))))


def example(x: float, k: str) -> bytes:
    """A serialized tf.Example with the two features the test model reads."""
    import tensorflow as tf

    features = {
        "x": tf.train.Feature(float_list=tf.train.FloatList(value=[x])),
        "k": tf.train.Feature(bytes_list=tf.train.BytesList(value=[k.encode()])),
    }
    return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString()


def build_version(export_dir: str | Path, version: int, warmup_records: list | None = None) -> Path:
    """Writes one version folder `export_dir` (its `saved_model.pb` last, as the Pusher does)."""
    import tensorflow as tf

    tf1 = tf.compat.v1
    slope = SLOPES.get(version, 0.5)
    export_dir = Path(export_dir)
    graph = tf.Graph()
    with graph.as_default():
        examples = tf1.placeholder(tf.string, [None], name="examples")
        parsed = tf1.io.parse_example(
            examples,
            {
                "x": tf.io.FixedLenFeature([], tf.float32, 0.0),
                "k": tf.io.FixedLenFeature([], tf.string, ""),
            },
        )

        def probability(x, k):
            logits = slope * x + 0.1 * tf.cast(tf.strings.length(k), tf.float32)
            return tf.reshape(tf.sigmoid(logits), [-1, 1])

        prob = probability(parsed["x"], parsed["k"])
        scores = tf.concat([1.0 - prob, prob], axis=1)
        classes = tf.tile(tf.constant([["no_click", "click"]]), [tf.shape(prob)[0], 1])
        raw_x = tf1.placeholder(tf.float32, [None], name="x")
        raw_k = tf1.placeholder(tf.string, [None], name="k")
        image = tf1.placeholder(tf.string, [None], name="image_bytes")
        echo_x = tf1.placeholder(tf.float32, [None], name="echo_x")
        signatures = {
            "serving_default": tf1.saved_model.predict_signature_def(
                {"examples": examples}, {"click_probability": prob}
            ),
            "predict_raw": tf1.saved_model.predict_signature_def(
                {"x": raw_x, "k": raw_k}, {"click_probability": probability(raw_x, raw_k)}
            ),
            "classify": tf1.saved_model.classification_signature_def(examples, classes, scores),
            "regress": tf1.saved_model.regression_signature_def(examples, tf.reshape(prob, [-1])),
            "echo": tf1.saved_model.predict_signature_def(
                {"image_bytes": image, "x": echo_x},
                {
                    "image_bytes": tf.identity(image),
                    "length": tf.cast(tf.strings.length(image), tf.int64),
                    "x_doubled": echo_x * 2.0,
                },
            ),
        }
        staging = export_dir.with_name(export_dir.name + ".staging")
        builder = tf1.saved_model.Builder(str(staging))
        with tf1.Session(graph=graph) as session:
            builder.add_meta_graph_and_variables(session, ["serve"], signature_def_map=signatures)
        builder.save()
    if warmup_records:
        from serving.warmup import write_warmup_requests

        write_warmup_requests(str(staging), warmup_records)
    # Move everything but saved_model.pb first, then saved_model.pb: the Pusher's contract.
    export_dir.mkdir(parents=True, exist_ok=True)
    for item in staging.iterdir():
        if item.name != "saved_model.pb":
            item.rename(export_dir / item.name)
    (staging / "saved_model.pb").rename(export_dir / "saved_model.pb")
    staging.rmdir()
    return export_dir


def build_weighty_version(export_dir: str | Path, megabytes: int) -> Path:
    """A version as heavy as a real model: `megabytes` of weights and as much in its graph.

    The weights (a variable) live in the version's session, the constant in its `tf.Graph`,
    so a version that is not freed, or whose graph is left for a later garbage collection,
    shows in the process's memory. Signature `predict_raw`: `x` float32 [None] -> `y` = x.
    """
    import numpy as np
    import tensorflow as tf

    tf1 = tf.compat.v1
    export_dir = Path(export_dir)
    staging = export_dir.with_name(export_dir.name + ".staging")
    size = megabytes * 1024 * 1024 // 4
    graph = tf.Graph()
    with graph.as_default():
        x = tf1.placeholder(tf.float32, [None], name="x")
        weights = tf1.get_variable("weights", [size], tf.float32, tf1.zeros_initializer())
        # Not all one value, so nothing can store it compressed.
        constant = tf.constant(np.arange(size, dtype=np.float32) % 251)
        y = x + 0.0 * (weights[0] + constant[0])
        signature = tf1.saved_model.predict_signature_def({"x": x}, {"y": y})
        builder = tf1.saved_model.Builder(str(staging))
        with tf1.Session(graph=graph) as session:
            session.run(tf1.global_variables_initializer())
            builder.add_meta_graph_and_variables(
                session, ["serve"], signature_def_map={"predict_raw": signature}
            )
        builder.save()
    staging.rename(export_dir)
    return export_dir


def build_model(base_path: str | Path, versions=(1, 2)) -> Path:
    """A model base path with the given numeric versions."""
    base_path = Path(base_path)
    for version in versions:
        build_version(base_path / str(version), version)
    return base_path


def conformance_config_text(base_path: str | Path) -> str:
    """The ModelServerConfig the conformance suite expects: both versions, two labels."""
    labels = "".join(f'    version_labels {{ key: "{k}" value: {v} }}\n' for k, v in LABELS.items())
    return (
        "model_config_list {\n  config {\n"
        f'    name: "{MODEL_NAME}"\n    base_path: "{base_path}"\n'
        '    model_platform: "tensorflow"\n'
        "    model_version_policy { all {} }\n" + labels + "  }\n}\n"
    )


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tests.serving.models OUT_DIR", file=sys.stderr)
        return 2
    out = Path(argv[0]).resolve()
    build_model(out / MODEL_NAME)
    (out / "models.config").write_text(conformance_config_text(f"/models/{MODEL_NAME}"))
    print(f"wrote {out / MODEL_NAME} and {out / 'models.config'} (base_path /models/{MODEL_NAME})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
