"""Training rows that name their creative's model input by key read as rows that carry it."""

from __future__ import annotations

import pytest
import tensorflow as tf

from trainer.features import Kind, transformed_name
from trainer.images import PIXELS_PREFIX, thumbnail_key
from trainer.thumbnail_table import ThumbnailTable, record


def _keyed_copy(transformed, registry, out) -> tuple[str, str]:
    """The transformed train split with each image replaced by its key, and the store of the
    inputs the keys name: (rows pattern, store pattern)."""
    image = transformed_name(registry.of_kind(Kind.IMAGE)[0].name)
    files = tf.io.gfile.glob(transformed.train_files[0])
    inputs = set()
    with tf.io.TFRecordWriter(str(out / "rows.gz"), "GZIP") as rows:
        for serialized in tf.data.TFRecordDataset(files, compression_type="GZIP"):
            example = tf.train.Example.FromString(serialized.numpy())
            value = example.features.feature[image].bytes_list.value
            inputs.add(value[0])
            value[0] = thumbnail_key(value[0])
            rows.write(example.SerializeToString())
    with tf.io.TFRecordWriter(str(out / "thumbnails-00000-of-00001.gz"), "GZIP") as store:
        for thumbnail in sorted(inputs):
            store.write(record(thumbnail))
    return str(out / "rows.gz"), str(out / "thumbnails-*")


def _batches(dataset, registry):
    """The batches as the model's layers see them: image values as their pixels."""
    from trainer.images import input_pixels

    images = {transformed_name(f.name) for f in registry.of_kind(Kind.IMAGE)}
    return [({name: (input_pixels(v, registry.image_size) if name in images else v).numpy().tolist()
              for name, v in features.items()}, label.numpy().tolist())
            for features, label in dataset]


def test_keyed_rows_give_the_model_what_rows_with_their_inputs_give(tmp_path, transformed,
                                                                    tf_transform_output, registry):
    from trainer.train import make_dataset

    rows, store = _keyed_copy(transformed, registry, tmp_path)
    table = ThumbnailTable.load([store])
    inline = make_dataset(transformed.train_files, tf_transform_output, registry, 2, shuffle=False)
    keyed = make_dataset([rows], tf_transform_output, registry, 2, shuffle=False, thumbnails=table)
    assert table.size == 3
    assert _batches(keyed, registry) == _batches(inline, registry)
    # Each input was decoded once, when loaded: the model is given its pixels, not a PNG.
    image = transformed_name(registry.of_kind(Kind.IMAGE)[0].name)
    given = next(iter(keyed))[0][image].numpy()
    assert all(value.startswith(PIXELS_PREFIX) for value in given)
    # Rows that carry an input the table holds (eval rows) are given its pixels too.
    both = make_dataset(transformed.train_files, tf_transform_output, registry, 2, shuffle=False,
                        thumbnails=table)
    assert _batches(both, registry) == _batches(inline, registry)
    assert all(value.startswith(PIXELS_PREFIX) for value in next(iter(both))[0][image].numpy())


def test_a_key_the_store_does_not_hold_stops_training_naming_it(tmp_path, transformed,
                                                                tf_transform_output, registry):
    from trainer.train import make_dataset

    rows, _ = _keyed_copy(transformed, registry, tmp_path)
    table = ThumbnailTable([], [])
    with pytest.raises(tf.errors.InvalidArgumentError, match="creatives store does not hold.*cpthumb:"):
        _batches(make_dataset([rows], tf_transform_output, registry, 2, shuffle=False, thumbnails=table),
                 registry)


def test_a_store_whose_key_is_not_its_thumbnails_is_refused(tmp_path):
    example = tf.train.Example.FromString(record(b"one input"))
    example.features.feature["thumbnail"].bytes_list.value[0] = b"another input"
    with tf.io.TFRecordWriter(str(tmp_path / "thumbnails-0.gz"), "GZIP") as store:
        store.write(example.SerializeToString())
    with pytest.raises(ValueError, match="is not the one that key names"):
        ThumbnailTable.load([str(tmp_path / "thumbnails-*")])
    assert ThumbnailTable.load([str(tmp_path / "none-*")]).size == 0


def test_run_fn_trains_on_keyed_rows_with_the_store_it_is_given(tmp_path, transformed, registry):
    import json

    from tfx.components.trainer.fn_args_utils import FnArgs

    from pipeline.config import load_config
    from trainer.run import METRICS_FILE, THUMBNAILS, run_fn

    rows, store = _keyed_copy(transformed, registry, tmp_path)
    training = {**load_config().training.model_dump(), "epochs": 1, "hidden_units": [4]}
    fn_args = FnArgs(
        train_files=[rows], eval_files=[rows], transform_graph_path=transformed.transform_output,
        serving_model_dir=str(tmp_path / "serving"), model_run_dir=str(tmp_path / "run"),
        custom_config={"registry": registry.to_dict(), "training": training, THUMBNAILS: store})
    run_fn(fn_args)
    assert json.loads((tmp_path / "run" / METRICS_FILE).read_text())["examples"] == 3
    # Without the store the keys cannot be read as images.
    fn_args.custom_config = {"registry": registry.to_dict(), "training": training}
    with pytest.raises(tf.errors.InvalidArgumentError):
        run_fn(fn_args)
