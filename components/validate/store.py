"""The statistics store: each validated span's statistics at a well-known place, and reports.

Layout under the store root (a local folder or gs://, read and written with tf.io.gfile):

    statistics/YYYY-MM/Split-<split>/FeatureStats.pb   as StatisticsGen writes them
    statistics/YYYY-MM/_VALIDATED                      written last: the month is complete
    reports/YYYY-MM/statistics.html, anomalies.html    the latest validation of that month
    reports/YYYY-MM/serving-<time>/...                 `clickpipe monitor` runs

Why a store and not a TFX Resolver node: the open-source KFP backend cannot run Resolver
nodes, and a path both runners can read is the simplest thing that works on both.
"""

from __future__ import annotations

from components.spans import is_month

STATISTICS_FILE = "FeatureStats.pb"
MARKER = "_VALIDATED"


def split_dir(statistics_uri: str, split: str) -> str:
    """The folder of one split's statistics inside a statistics artifact or store month."""
    return f"{statistics_uri.rstrip('/')}/Split-{split}"


def load_statistics_file(path: str):
    """A DatasetFeatureStatisticsList from a binary FeatureStats.pb file."""
    import tensorflow as tf
    from tensorflow_metadata.proto.v0 import statistics_pb2

    with tf.io.gfile.GFile(path, "rb") as handle:
        return statistics_pb2.DatasetFeatureStatisticsList.FromString(handle.read())


def load_split_statistics(statistics_uri: str, splits: list[str]) -> dict:
    """Per split, the statistics StatisticsGen wrote under `statistics_uri`."""
    return {split: load_statistics_file(f"{split_dir(statistics_uri, split)}/{STATISTICS_FILE}") for split in splits}


def read_schema(schema_uri: str):
    """The Schema proto in a Schema artifact folder, or in a .pbtxt file."""
    from tensorflow_metadata.proto.v0 import schema_pb2
    from tfx.utils import io_utils

    path = schema_uri if schema_uri.endswith(".pbtxt") else io_utils.get_only_uri_in_dir(schema_uri)
    return io_utils.parse_pbtxt_file(path, schema_pb2.Schema())


class StatisticsStore:
    """Validated statistics per month, and the validation reports, under one root."""

    def __init__(self, root: str) -> None:
        self.root = root.rstrip("/")

    def month_dir(self, month: str) -> str:
        return f"{self.root}/statistics/{month}"

    def report_dir(self, month: str) -> str:
        """Where the reports of `month` are written."""
        return f"{self.root}/reports/{month}"

    def months(self) -> list[str]:
        """The validated months, oldest first."""
        import tensorflow as tf

        folder = f"{self.root}/statistics"
        if not tf.io.gfile.isdir(folder):
            return []
        names = [name.rstrip("/") for name in tf.io.gfile.listdir(folder)]
        return sorted(
            name for name in names if is_month(name) and tf.io.gfile.exists(f"{folder}/{name}/{MARKER}")
        )

    def previous(self, month: str) -> str:
        """The newest validated month before `month`, or "" if there is none."""
        earlier = [m for m in self.months() if m < month]
        return earlier[-1] if earlier else ""

    def baseline_key(self, month: str) -> str:
        """Names the statistics `month` would be compared with: a cache key for the gate.

        It changes when an earlier month is validated or re-published, and only then.
        """
        import tensorflow as tf

        previous = self.previous(month)
        if not previous:
            return ""
        with tf.io.gfile.GFile(f"{self.month_dir(previous)}/{MARKER}") as handle:
            return f"{previous}:{handle.read().strip()}"

    def splits(self, month: str) -> list[str]:
        """The splits stored for `month`."""
        import tensorflow as tf

        names = [name.rstrip("/") for name in tf.io.gfile.listdir(self.month_dir(month))]
        return sorted(name.removeprefix("Split-") for name in names if name.startswith("Split-"))

    def load(self, month: str) -> dict:
        """Per split, the validated statistics of `month`.

        Raises:
            FileNotFoundError: `month` was never validated into this store.
        """
        if month not in self.months():
            raise FileNotFoundError(f"no validated statistics for {month} under {self.root}/statistics")
        return load_split_statistics(self.month_dir(month), self.splits(month))

    def publish(self, month: str, statistics_uri: str, splits: list[str]) -> None:
        """Copies a statistics artifact's splits into the store, then marks the month complete."""
        import tensorflow as tf

        target = self.month_dir(month)
        if tf.io.gfile.exists(f"{target}/{MARKER}"):
            tf.io.gfile.remove(f"{target}/{MARKER}")
        for split in splits:
            tf.io.gfile.makedirs(split_dir(target, split))
            tf.io.gfile.copy(
                f"{split_dir(statistics_uri, split)}/{STATISTICS_FILE}",
                f"{split_dir(target, split)}/{STATISTICS_FILE}",
                overwrite=True,
            )
        with tf.io.gfile.GFile(f"{target}/{MARKER}", "w") as handle:
            handle.write(statistics_uri + "\n")
