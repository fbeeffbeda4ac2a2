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


def _store(path, records) -> str:
    with tf.io.TFRecordWriter(str(path / "thumbnails-0.gz"), "GZIP") as store:
        for one in records:
            store.write(one)
    return str(path / "thumbnails-*")


def _pngs(count: int, size: int = 4) -> list[bytes]:
    import numpy as np

    from trainer.images import encode_pixels

    pixels = np.random.default_rng(2).integers(0, 256, (count, size, size, 3), dtype=np.uint8)
    return encode_pixels(tf.constant(pixels)).numpy().tolist()


def test_a_store_whose_key_is_not_its_thumbnails_is_refused(tmp_path):
    one, another = _pngs(2)
    example = tf.train.Example.FromString(record(one))
    example.features.feature["thumbnail"].bytes_list.value[0] = another
    with pytest.raises(ValueError, match="is not the one that key names"):
        ThumbnailTable.load([_store(tmp_path, [example.SerializeToString()])])
    assert ThumbnailTable.load([str(tmp_path / "none-*")]).size == 0


def test_a_store_whose_thumbnail_is_not_a_png_is_refused_naming_the_file(tmp_path):
    pattern = _store(tmp_path, [record(_pngs(1)[0]), record(b"not a png")])
    with pytest.raises(ValueError, match=r"thumbnails-0\.gz: a stored thumbnail is not a PNG"):
        ThumbnailTable.load([pattern])


def test_each_stored_input_is_decoded_once_to_the_pixels_the_model_would_decode(tmp_path):
    from trainer.images import input_pixels

    pngs = _pngs(5)
    table = ThumbnailTable.load([_store(tmp_path, [record(png) for png in pngs])])
    keys = [thumbnail_key(png) for png in pngs]
    given = table.resolve(tf.constant([keys[3], pngs[1], b"cpthumb-like but not a key"]))
    assert [value.startswith(PIXELS_PREFIX) for value in given.numpy()] == [True, True, False]
    assert (input_pixels(given[:2], 4).numpy() == input_pixels(tf.constant([pngs[3], pngs[1]]), 4).numpy()).all()
    assert table.size == 5


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
