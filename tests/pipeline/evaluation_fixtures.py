"""Small synthetic impressions and tiny Keras models with the serving contract, for TFMA tests.

The true click probability is sigmoid(2x + 2z - 1). Models are one sigmoid unit over
(x, z, z if the device is mobile) with weights set by hand, so how good each one is (overall
and on mobile) is known without training. Each row names one of `ADS` ads; the training split
`write_examples(..., split_rows=...)` writes uses only the first `TRAINED_ADS`, so the others
are new to it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

DEVICES = ("mobile", "desktop", "tablet")
SLOTS = ("top", "side")
CATEGORIES = ("travel", "games", "food")
LABEL = "clicked"
ADS = 50
TRAINED_ADS = 40


def impressions(rows: int, seed: int = 0) -> list[dict]:
    """Rows of features and a label drawn from the known truth."""
    rng = np.random.default_rng(seed)
    x, z = rng.normal(size=rows), rng.normal(size=rows)
    probability = 1.0 / (1.0 + np.exp(-(2 * x + 2 * z - 1)))
    clicked = rng.random(rows) < probability
    return [
        {
            "x": float(x[i]),
            "z": float(z[i]),
            "device_type": DEVICES[i % len(DEVICES)],
            "slot_position": SLOTS[i % len(SLOTS)],
            "ad_category": CATEGORIES[(i // 2) % len(CATEGORIES)],
            "ad_id": f"ad-{(i * 7) % ADS:04d}",
            LABEL: int(clicked[i]),
        }
        for i in range(rows)
    ]


def to_example(row: dict) -> bytes:
    """One row as a serialized tf.Example."""
    import tensorflow as tf

    feature = {}
    for key, value in row.items():
        if isinstance(value, str):
            feature[key] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode()]))
        elif isinstance(value, int):
            feature[key] = tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))
        else:
            feature[key] = tf.train.Feature(float_list=tf.train.FloatList(value=[value]))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def write_examples(folder: Path, rows: int = 900, seed: int = 0, ads: int = ADS) -> Path:
    """Writes a gzipped TFRecord file of examples, as ExampleGen does; returns the folder.

    Args:
        folder: where the file goes (e.g. an Examples artifact's ``Split-eval``).
        rows: how many rows.
        seed: the rows' random draw.
        ads: only rows of the first `ads` ads are written (e.g. `TRAINED_ADS` for a train split).
    """
    import tensorflow as tf

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "data_tfrecord-00000-of-00001.gz"
    with tf.io.TFRecordWriter(str(path), options="GZIP") as writer:
        for row in impressions(rows, seed):
            if int(row["ad_id"].removeprefix("ad-")) < ads:
                writer.write(to_example(row))
    return folder


def _signals(rows: list[dict]) -> np.ndarray:
    """The model inputs (x, z, z if mobile) of rows."""
    return np.array([[r["x"], r["z"], r["z"] * (r["device_type"] == "mobile")] for r in rows], np.float32)


def _one_unit():
    import tf_keras as keras

    signals = keras.Input(shape=(3,), name="signals")
    unit = keras.layers.Dense(1, activation="sigmoid", name="click")
    return keras.Model(signals, unit(signals)), unit


def save_model(path: Path, wx: float, wz: float, wz_mobile: float = 0.0, bias: float = -1.0) -> Path:
    """Saves a one-unit Keras model whose serving signature takes serialized tf.Examples."""
    model, unit = _one_unit()
    unit.set_weights([np.array([[wx], [wz], [wz_mobile]], np.float32), np.array([bias], np.float32)])
    return _export(model, path)


def train_model(path: Path, rows: int, seed: int, data_seed: int = 5) -> Path:
    """Fits the one-unit model on `rows` rows drawn with `data_seed`, from initial weights and
    a shuffling order set by `seed`, and saves it like `save_model`: the same data and
    different seeds give models of equal quality with different errors."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    model, _ = _one_unit()
    model.compile(optimizer=tf.keras.optimizers.Adam(0.05), loss="binary_crossentropy")
    data = impressions(rows, data_seed)
    labels = np.array([r[LABEL] for r in data], np.float32)
    model.fit(_signals(data), labels, epochs=3, batch_size=64, shuffle=True, verbose=0)
    return _export(model, path)


def _export(model, path: Path) -> Path:
    import tensorflow as tf

    spec = {
        "x": tf.io.FixedLenFeature([1], tf.float32),
        "z": tf.io.FixedLenFeature([1], tf.float32),
        "device_type": tf.io.FixedLenFeature([1], tf.string),
    }

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve(examples):
        parsed = tf.io.parse_example(examples, spec)
        mobile = tf.cast(tf.equal(parsed["device_type"], "mobile"), tf.float32)
        inputs = tf.concat([parsed["x"], parsed["z"], parsed["z"] * mobile], axis=1)
        return {"click_probability": model(inputs)}

    model.save(str(path), save_format="tf", signatures={"serving_default": serve})
    return path


# Models of known quality against the truth sigmoid(2x + 2z - 1).
GOOD = {"wx": 2.0, "wz": 2.0}
# Blind to z, as if a feature were broken: clearly worse everywhere.
BROKEN_FEATURE = {"wx": 2.0, "wz": 0.0}
# Uses z everywhere except on mobile, where it gets z backwards: better than BROKEN_FEATURE
# overall, worse on mobile.
WRONG_ON_MOBILE = {"wx": 2.0, "wz": 2.0, "wz_mobile": -2.5}
