"""Training helpers: the metrics, the input pipeline and the TFX run_fn adapter."""

from __future__ import annotations

import itertools
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from trainer.train import binary_metrics


def _pairwise_auc(scores, labels):
    pairs = [(p, n) for p, n in itertools.product(scores[labels == 1], scores[labels == 0])]
    return np.mean([1.0 if p > n else 0.5 if p == n else 0.0 for p, n in pairs])


def test_auc_matches_the_pairwise_definition_with_ties():
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 5, 60) / 4  # many ties
    labels = rng.integers(0, 2, 60)
    assert binary_metrics(scores, labels)["auc"] == pytest.approx(_pairwise_auc(scores, labels))


def test_log_loss_of_a_known_case():
    metrics = binary_metrics(np.array([0.9, 0.2]), np.array([1, 0]))
    assert metrics["log_loss"] == pytest.approx(-(np.log(0.9) + np.log(0.8)) / 2)
    assert metrics["auc"] == 1.0 and metrics["examples"] == 2


def test_metrics_need_both_classes():
    with pytest.raises(ValueError, match="both clicks and non-clicks"):
        binary_metrics(np.array([0.1, 0.2]), np.array([0, 0]))


def test_run_fn_trains_writes_metrics_and_exports(tmp_path, transformed, registry):
    from tfx.components.trainer.fn_args_utils import FnArgs

    from pipeline.config import load_config
    from trainer.run import METRICS_FILE, run_fn

    training = {**load_config().training.model_dump(), "epochs": 1, "hidden_units": [4]}
    fn_args = FnArgs(
        train_files=transformed.train_files, eval_files=transformed.eval_files,
        transform_graph_path=transformed.transform_output,
        serving_model_dir=str(tmp_path / "serving"), model_run_dir=str(tmp_path / "run"),
        custom_config={"registry": registry.to_dict(), "training": training})
    run_fn(fn_args)
    metrics = json.loads((tmp_path / "run" / METRICS_FILE).read_text())
    assert set(metrics) == {"auc", "log_loss", "examples"}
    assert metrics["examples"] == 3 and metrics["log_loss"] > 0
    assert os.path.exists(tmp_path / "serving" / "saved_model.pb")


def test_run_fn_without_a_registry_says_what_is_missing():
    from tfx.components.trainer.fn_args_utils import FnArgs

    from trainer.run import run_fn

    with pytest.raises(ValueError, match="registry"):
        run_fn(FnArgs(custom_config={"training": {}}))


def test_training_dataset_repeats_and_knows_its_epoch(transformed, tf_transform_output, registry,
                                                      settings):
    from trainer.train import count_records, training_dataset

    records, size = count_records(transformed.train_files)
    files = tf.io.gfile.glob(transformed.train_files[0])
    lengths = [len(r.numpy()) for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]
    assert records == 3 and size == sum(lengths)  # decompressed bytes
    dataset, steps = training_dataset(transformed.train_files, tf_transform_output, registry,
                                      settings)
    assert steps == 2  # three rows in batches of two
    # Endless: ten batches of two from three rows, every row drawn.
    labels = [int(v) for _, label in dataset.take(10) for v in label.numpy().reshape(-1)]
    assert len(labels) == 20 and set(labels) == {0, 1}


def test_training_dataset_refuses_empty_files(tmp_path, tf_transform_output, registry, settings):
    import tensorflow as tf

    from trainer.train import training_dataset

    empty = str(tmp_path / "empty.tfrecord")
    with tf.io.TFRecordWriter(empty):
        pass
    with pytest.raises(ValueError, match="no training examples"):
        training_dataset([empty], tf_transform_output, registry, settings)
    with pytest.raises(ValueError, match="no files match"):
        training_dataset([str(tmp_path / "missing-*")], tf_transform_output, registry, settings)


@pytest.mark.parametrize("cache", [True, False])
def test_a_cached_split_is_read_from_memory_after_the_first_pass(tmp_path, transformed,
                                                                 tf_transform_output, registry,
                                                                 cache):
    import shutil

    import tensorflow as tf

    from trainer.train import make_dataset

    for i, path in enumerate(tf.io.gfile.glob(transformed.train_files[0])):
        shutil.copy(path, tmp_path / f"part-{i}.gz")
    # Three rows in batches of three: one batch is one pass over the files.
    batches = iter(make_dataset([str(tmp_path / "part-*.gz")], tf_transform_output, registry, 3,
                                shuffle=False, repeat=True, cache=cache))
    first = next(batches)[1].numpy().tolist()
    for path in tmp_path.glob("part-*.gz"):
        path.unlink()
    if cache:
        assert [next(batches)[1].numpy().tolist() for _ in range(200)] == [first] * 200
    else:  # the reader opens the files again, however far it has read ahead
        with pytest.raises(tf.errors.NotFoundError):
            for _ in range(200):
                next(batches)


def test_only_a_split_within_cache_mb_is_cached(settings):
    import dataclasses

    from trainer.train import fits_in_cache

    small = dataclasses.replace(settings, cache_mb=1)
    assert fits_in_cache(2**20, small) and not fits_in_cache(2**20 + 1, small)
    assert not fits_in_cache(1, dataclasses.replace(settings, cache_mb=0))
