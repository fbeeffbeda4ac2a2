"""The statistics store: publish, find the previous validated month, load it back."""

from __future__ import annotations

import pytest

from components.validate.store import MARKER, STATISTICS_FILE, StatisticsStore, load_split_statistics


def _statistics_artifact(folder, examples_by_split: dict[str, int]):
    from tensorflow_metadata.proto.v0 import statistics_pb2

    for split, count in examples_by_split.items():
        stats = statistics_pb2.DatasetFeatureStatisticsList()
        stats.datasets.add(num_examples=count)
        (folder / f"Split-{split}").mkdir(parents=True)
        (folder / f"Split-{split}" / STATISTICS_FILE).write_bytes(stats.SerializeToString())
    return str(folder)


def test_publish_then_load_round_trips(tmp_path):
    store = StatisticsStore(str(tmp_path / "store"))
    artifact = _statistics_artifact(tmp_path / "artifact", {"train": 80, "eval": 20})

    store.publish("2026-09", artifact, ["train", "eval"])

    assert store.months() == ["2026-09"]
    loaded = store.load("2026-09")
    assert {split: s.datasets[0].num_examples for split, s in loaded.items()} == {"train": 80, "eval": 20}


def test_previous_is_the_newest_validated_month_before(tmp_path):
    store = StatisticsStore(str(tmp_path / "store"))
    artifact = _statistics_artifact(tmp_path / "artifact", {"train": 1})
    for month in ("2026-06", "2026-08", "2026-11"):
        store.publish(month, artifact, ["train"])

    assert store.previous("2026-10") == "2026-08"
    assert store.previous("2026-08") == "2026-06"
    assert store.previous("2026-06") == ""


def test_a_month_without_its_marker_is_not_validated(tmp_path):
    store = StatisticsStore(str(tmp_path / "store"))
    artifact = _statistics_artifact(tmp_path / "artifact", {"train": 1})
    store.publish("2026-08", artifact, ["train"])
    store.publish("2026-09", artifact, ["train"])
    (tmp_path / "store" / "statistics" / "2026-09" / MARKER).unlink()
    (tmp_path / "store" / "statistics" / "not-a-month").mkdir()

    assert store.months() == ["2026-08"]
    assert store.previous("2026-10") == "2026-08"
    with pytest.raises(FileNotFoundError, match="2026-09"):
        store.load("2026-09")


def test_an_empty_store_has_no_months(tmp_path):
    assert StatisticsStore(str(tmp_path / "nothing-here")).months() == []


def test_load_split_statistics_reads_each_split(tmp_path):
    artifact = _statistics_artifact(tmp_path / "artifact", {"train": 5, "eval": 2})

    loaded = load_split_statistics(artifact, ["eval"])

    assert list(loaded) == ["eval"]
    assert loaded["eval"].datasets[0].num_examples == 2


def test_baseline_key_changes_only_with_the_previous_month(tmp_path):
    store = StatisticsStore(str(tmp_path / "store"))
    first = _statistics_artifact(tmp_path / "first", {"train": 1})
    second = _statistics_artifact(tmp_path / "second", {"train": 2})

    assert store.baseline_key("2026-09") == ""
    store.publish("2026-08", first, ["train"])
    key = store.baseline_key("2026-09")
    store.publish("2026-09", first, ["train"])  # validating the month itself changes nothing
    assert store.baseline_key("2026-09") == key == f"2026-08:{first}"
    store.publish("2026-08", second, ["train"])  # the previous month re-published
    assert store.baseline_key("2026-09") == f"2026-08:{second}"
