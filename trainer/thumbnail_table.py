"""A run's creatives stored once, beside the training rows that name them by key.

Ingestion writes each distinct creative's model input (`trainer.images.thumbnails`) once per run,
as a tf.Example ``{"key": thumbnail_key(input), "thumbnail": input}`` (`record`) in gzipped
TFRecords, and a training row carries only the key (`trainer.images.thumbnail_key`, 40 bytes
instead of ~380 for an icon's input or ~1 KB for a banner's). `ThumbnailTable` decodes each input
once, when the trainer loads the store, and in the trainer's input pipeline puts each row's pixels
(`trainer.images.pixels_value`, about 3 KB a creative in memory) in place of its key, or of the
input an eval row carries, so no epoch decodes a creative again.
"""

from __future__ import annotations

from collections.abc import Sequence

from trainer.images import THUMBNAIL_KEY_PREFIX, pixels_value, thumbnail_key

KEY = "key"
THUMBNAIL = "thumbnail"
_PIXELS = "pixels"
# Records read, checked and decoded at a time while loading.
_LOAD_BATCH = 4096


def record(thumbnail: bytes) -> bytes:
    """The serialized tf.Example that stores one creative's model input under its key."""
    from tensorflow.core.example import example_pb2

    example = example_pb2.Example()
    example.features.feature[KEY].bytes_list.value.append(thumbnail_key(thumbnail))
    example.features.feature[THUMBNAIL].bytes_list.value.append(thumbnail)
    return example.SerializeToString(deterministic=True)


class ThumbnailTable:
    """Decoded model inputs by key (and by the input itself), and the function that swaps them
    in for a batch of image values."""

    def __init__(self, keys: Sequence[bytes] = (), thumbnails: Sequence[bytes] = ()) -> None:
        """A table of these inputs (decoded here), as `load` makes from a store.

        Raises:
            ValueError: as `load`.
        """
        import tensorflow as tf

        self.size = 0
        # Key or input -> row number -> pixels: each creative's pixels are held once.
        self._numbers = tf.lookup.experimental.MutableHashTable(tf.string, tf.int64, default_value=-1)
        self._pixels = tf.lookup.experimental.MutableHashTable(tf.int64, tf.string, default_value=b"")
        if keys:
            self._add(tf.data.Dataset.from_tensor_slices({KEY: list(keys), THUMBNAIL: list(thumbnails)}))

    @classmethod
    def load(cls, file_patterns: Sequence[str]) -> ThumbnailTable:
        """The records of every file the patterns match, each input decoded once (none: an
        empty table, for rows that carry their inputs themselves).

        Raises:
            ValueError: a record's key is not its thumbnail's, or a thumbnail is not a PNG of the
                others' size (a damaged or mixed-up store).
        """
        import tensorflow as tf

        files = sorted({path for pattern in file_patterns for path in tf.io.gfile.glob(pattern)})
        table = cls()
        if files:
            spec = {KEY: tf.io.FixedLenFeature([], tf.string),
                    THUMBNAIL: tf.io.FixedLenFeature([], tf.string)}
            records = tf.data.TFRecordDataset(files, compression_type="GZIP").map(
                lambda serialized: tf.io.parse_single_example(serialized, spec))
            table._add(records, f"{', '.join(files)}: ")
        return table

    def _add(self, records, where: str = "") -> None:
        """Adds ``{key, thumbnail}`` elements, each decoded once (in parallel, in tf.data)."""
        import tensorflow as tf

        def with_pixels(record):
            return {**record, _PIXELS: tf.io.decode_png(record[THUMBNAIL], channels=3)}

        batches = records.map(with_pixels, num_parallel_calls=tf.data.AUTOTUNE).batch(_LOAD_BATCH)
        try:
            for batch in batches.as_numpy_iterator():
                keys, thumbnails = batch[KEY].tolist(), batch[THUMBNAIL].tolist()
                for key, thumbnail in zip(keys, thumbnails, strict=True):
                    if key != thumbnail_key(thumbnail):
                        raise ValueError(f"{where}the thumbnail stored under {key.decode()} "
                                         "is not the one that key names")
                numbers = tf.range(self.size, self.size + len(keys), dtype=tf.int64)
                self._numbers.insert(tf.constant(keys + thumbnails), tf.concat([numbers, numbers], 0))
                self._pixels.insert(numbers, tf.constant([pixels_value(one) for one in batch[_PIXELS]]))
                self.size += len(keys)
        except tf.errors.InvalidArgumentError as exc:
            raise ValueError(f"{where}a stored thumbnail is not a PNG of the others' size "
                             f"({exc.message.splitlines()[0]})") from exc

    def resolve(self, values):
        """``[batch]`` image values with each key, and each input the table holds, replaced by
        that input's pixels (`trainer.images.pixels_value`); other values as they are.

        Raises:
            tf.errors.InvalidArgumentError: when run, a key the table does not hold.
        """
        import tensorflow as tf

        numbers = self._numbers.lookup(values)
        # A mutable table's lookup does not say its shape: the values'.
        numbers.set_shape(values.shape)
        is_key = tf.strings.substr(values, 0, len(THUMBNAIL_KEY_PREFIX)) == THUMBNAIL_KEY_PREFIX
        missing = is_key & (numbers < 0)
        check = tf.debugging.Assert(
            ~tf.reduce_any(missing),
            ["rows name thumbnails the creatives store does not hold, e.g.",
             tf.boolean_mask(values, missing)[:1]])
        with tf.control_dependencies([check]):
            return tf.where(numbers >= 0, self._pixels.lookup(numbers), values)
