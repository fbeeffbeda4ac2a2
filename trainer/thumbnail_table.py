"""A run's creatives stored once, beside the training rows that name them by key.

Ingestion writes each distinct creative's model input (`trainer.images.thumbnails`) once per run,
as a tf.Example ``{"key": thumbnail_key(input), "thumbnail": input}`` (`record`) in gzipped
TFRecords, and a training row carries only the key (`trainer.images.thumbnail_key`, 40 bytes
instead of ~380 for an icon's input or ~1 KB for a banner's). `ThumbnailTable` holds them in
memory (about 1 KB a creative) and, in the trainer's input pipeline, puts each row's input back
in its key's place before the model sees it.
"""

from __future__ import annotations

from collections.abc import Sequence

from trainer.images import THUMBNAIL_KEY_PREFIX, thumbnail_key

KEY = "key"
THUMBNAIL = "thumbnail"


def record(thumbnail: bytes) -> bytes:
    """The serialized tf.Example that stores one creative's model input under its key."""
    from tensorflow.core.example import example_pb2

    example = example_pb2.Example()
    example.features.feature[KEY].bytes_list.value.append(thumbnail_key(thumbnail))
    example.features.feature[THUMBNAIL].bytes_list.value.append(thumbnail)
    return example.SerializeToString(deterministic=True)


class ThumbnailTable:
    """Model inputs by key, and the function that swaps keys for them in a batch of values."""

    def __init__(self, keys: Sequence[bytes], thumbnails: Sequence[bytes]) -> None:
        import tensorflow as tf

        self.size = len(keys)
        # TF's tables cannot be empty; "" maps to the default, as a key not held does.
        self._table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(tf.constant(list(keys) or [b""], tf.string),
                                                tf.constant(list(thumbnails) or [b""], tf.string)),
            default_value=b"")

    @classmethod
    def load(cls, file_patterns: Sequence[str]) -> ThumbnailTable:
        """The records of every file the patterns match (none: an empty table, for rows that
        carry their inputs themselves).

        Raises:
            ValueError: a record's key is not its thumbnail's (a damaged or mixed-up store).
        """
        import tensorflow as tf

        files = sorted({path for pattern in file_patterns for path in tf.io.gfile.glob(pattern)})
        keys: list[bytes] = []
        thumbnails: list[bytes] = []
        if files:
            spec = {KEY: tf.io.FixedLenFeature([], tf.string),
                    THUMBNAIL: tf.io.FixedLenFeature([], tf.string)}
            batches = tf.data.TFRecordDataset(files, compression_type="GZIP").batch(4096).map(
                lambda serialized: tf.io.parse_example(serialized, spec))
            for batch in batches.as_numpy_iterator():
                keys.extend(batch[KEY].tolist())
                thumbnails.extend(batch[THUMBNAIL].tolist())
        for key, thumbnail in zip(keys, thumbnails, strict=True):
            if key != thumbnail_key(thumbnail):
                raise ValueError(f"{', '.join(files)}: the thumbnail stored under {key.decode()} "
                                 "is not the one that key names")
        return cls(keys, thumbnails)

    def resolve(self, values):
        """``[batch]`` image values with each key replaced by the model input it names; other
        values (inputs carried inline) as they are.

        Raises:
            tf.errors.InvalidArgumentError: when run, a key the table does not hold.
        """
        import tensorflow as tf

        found = self._table.lookup(values)
        is_key = tf.strings.substr(values, 0, len(THUMBNAIL_KEY_PREFIX)) == THUMBNAIL_KEY_PREFIX
        missing = is_key & (tf.strings.length(found) == 0)
        check = tf.debugging.Assert(
            ~tf.reduce_any(missing),
            ["rows name thumbnails the creatives store does not hold, e.g.",
             tf.boolean_mask(values, missing)[:1]])
        with tf.control_dependencies([check]):
            return tf.where(is_key, found, values)
