"""Unit tests of span resolution on local folders (the gs:// path is in test_gcs_source.py)."""

import os

import pytest

from components.ingest.span_selection import SpanError, pattern_regex, resolve_spans
from tests.components.ingest import dataset as ds

PATTERN = "impressions/{span}/*.csv"


@pytest.fixture
def source(tmp_path):
    root = tmp_path / "data"
    ds.write_months(root, {"2026-08": 4, "2026-09": 4, "2026-10": 4})
    return root


def test_latest_picks_the_newest_month(source):
    selection = resolve_spans(str(source), PATTERN, "latest", 1)
    assert selection.months == ("2026-10",)
    assert selection.span == 202610
    assert [f.name for f in selection.files] == [
        "impressions/2026-10/impressions-00000-of-00002.csv",
        "impressions/2026-10/impressions-00001-of-00002.csv",
    ]


def test_window_takes_the_calendar_months_ending_at_the_span(source):
    selection = resolve_spans(f"file://{source}", PATTERN, "latest", 3)
    assert selection.months == ("2026-08", "2026-09", "2026-10")
    assert selection.span == 202610
    assert len(selection.files) == 6


def test_explicit_span_with_window(source):
    selection = resolve_spans(str(source), PATTERN, "2026-09", 2)
    assert selection.months == ("2026-08", "2026-09")
    assert selection.span == 202609


def test_missing_explicit_span_names_it_and_what_exists(source):
    with pytest.raises(SpanError, match=r"span 2026-11 not found: no impressions/2026-11/\*\.csv") as err:
        resolve_spans(str(source), PATTERN, "2026-11", 1)
    assert "available: 2026-08, 2026-09, 2026-10" in str(err.value)


def test_a_gap_in_the_window_names_the_missing_month(source):
    with pytest.raises(SpanError, match="span 2026-06, 2026-07 of the 5-month window ending 2026-10"):
        resolve_spans(str(source), PATTERN, "latest", 5)


def test_missing_source_folder_is_named(tmp_path):
    with pytest.raises(SpanError, match=f"source folder {tmp_path / 'nope'} does not exist"):
        resolve_spans(str(tmp_path / "nope"), PATTERN, "latest", 1)


def test_empty_source_and_unmatched_pattern_are_told_apart(tmp_path, source):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SpanError, match="nothing found under .*empty: check dataset.source"):
        resolve_spans(str(tmp_path / "empty"), PATTERN, "latest", 1)
    with pytest.raises(SpanError, match="no impressions matching 'impressions/{span}/\\*.tsv'"):
        resolve_spans(str(source), "impressions/{span}/*.tsv", "latest", 1)


def test_an_empty_span_is_an_error(tmp_path):
    folder = tmp_path / "data" / "impressions" / "2026-10"
    folder.mkdir(parents=True)
    (folder / "impressions-00000-of-00001.csv").write_bytes(b"")
    with pytest.raises(SpanError, match="span 2026-10 under .* is empty"):
        resolve_spans(str(tmp_path / "data"), PATTERN, "latest", 1)


def test_a_malformed_span_or_window_is_named(source):
    with pytest.raises(SpanError, match="dataset.span must be 'latest' or a month like 2026-10, got '2026-13'"):
        resolve_spans(str(source), PATTERN, "2026-13", 1)
    with pytest.raises(SpanError, match="dataset.window must be at least 1, got 0"):
        resolve_spans(str(source), PATTERN, "latest", 0)


def test_pattern_wildcards_stay_in_one_folder():
    regex = pattern_regex("impressions/{span}/part-?.csv")
    assert regex.match("impressions/2026-10/part-1.csv").group("span") == "2026-10"
    assert not regex.match("impressions/2026-10/sub/part-1.csv")
    assert not regex.match("impressions/2026-13/part-1.csv")
    assert not pattern_regex(PATTERN).match("impressions/2026-10/old/a.csv")
    with pytest.raises(SpanError, match="must contain {span} once"):
        pattern_regex("impressions/*.csv")


def test_fingerprint_changes_when_a_file_is_redropped_or_a_month_lands(source):
    first = resolve_spans(str(source), PATTERN, "latest", 1)
    assert resolve_spans(str(source), PATTERN, "latest", 1).fingerprint == first.fingerprint
    shard = source / first.files[0].name
    stat = shard.stat()
    os.utime(shard, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    redropped = resolve_spans(str(source), PATTERN, "latest", 1)
    assert redropped.fingerprint != first.fingerprint
    assert redropped.version > first.version
    ds.write_span(source, "2026-11", ds.good_lines("2026-11", 2))
    newer = resolve_spans(str(source), PATTERN, "latest", 1)
    assert newer.months == ("2026-11",) and newer.fingerprint != redropped.fingerprint
