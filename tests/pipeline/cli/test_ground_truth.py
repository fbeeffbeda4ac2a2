"""`clickpipe run --ground-truth`: the best achievable metrics on the eval split the run ingested."""

from __future__ import annotations

import pytest
import tensorflow as tf

from datagen.limits import best_achievable
from pipeline.cli.run import eval_split_limits
from pipeline.config import load_config

pytestmark = pytest.mark.unit


def _example(impression: str, clicked: int, ad: str) -> bytes:
    feature = {
        "impression_id": tf.train.Feature(bytes_list=tf.train.BytesList(value=[impression.encode()])),
        "clicked": tf.train.Feature(int64_list=tf.train.Int64List(value=[clicked])),
        "ad_id": tf.train.Feature(bytes_list=tf.train.BytesList(value=[ad.encode()])),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def _write_split(folder, examples: list[bytes]) -> None:
    folder.mkdir(parents=True)
    with tf.io.TFRecordWriter(str(folder / "data.gz"), options="GZIP") as writer:
        for example in examples:
            writer.write(example)


def test_the_limits_are_those_of_the_eval_rows_the_ground_truth_knows(tmp_path):
    examples = tmp_path / "examples"
    _write_split(examples / "Split-train", [_example("t1", 0, "ad-1"), _example("t2", 1, "ad-2")])
    rows = [("e1", 1, "ad-1", 0.9), ("e2", 0, "ad-1", 0.2), ("e3", 0, "ad-9", 0.4), ("e4", 1, "ad-9", 0.3),
            ("e5", 0, "ad-8", 0.1)]
    # e6 is not in the ground truth: it is left out.
    _write_split(examples / "Split-eval", [_example(i, y, ad) for i, y, ad, _ in rows] + [_example("e6", 1, "ad-9")])
    truth = tmp_path / "ground_truth" / "2026-09"
    truth.mkdir(parents=True)
    lines = ["impression_id,click_probability", *(f"{i},{p}" for i, _, _, p in rows), "t1,0.5"]
    (truth / "ground_truth.csv").write_text("\n".join(lines) + "\n")

    limits = eval_split_limits(load_config(), str(examples), str(tmp_path / "ground_truth"))

    everything = best_achievable([p for *_, p in rows], [y for _, y, _, _ in rows])
    new_ads = best_achievable([p for _, _, ad, p in rows if ad != "ad-1"], [y for _, y, ad, _ in rows if ad != "ad-1"])
    assert limits["auc"] == pytest.approx(everything["auc"])
    assert limits["log_loss"] == pytest.approx(everything["log_loss"])
    assert limits["new_auc"] == pytest.approx(new_ads["auc"])
    assert limits["auc"] != pytest.approx(limits["new_auc"])


def test_an_eval_split_the_ground_truth_does_not_know_has_no_limits(tmp_path):
    examples = tmp_path / "examples"
    _write_split(examples / "Split-train", [_example("t1", 0, "ad-1")])
    _write_split(examples / "Split-eval", [_example("x1", 1, "ad-1")])
    truth = tmp_path / "truth.csv"
    truth.write_text("impression_id,click_probability\nt1,0.5\n")

    assert eval_split_limits(load_config(), str(examples), str(truth)) == {}

