"""Spans found by a timestamp column (dataset.span_column) in local CSV files of any month."""

import pytest

from components.ingest import span_selection
from components.ingest.span_selection import SpanError, resolve_spans
from components.ingest.storage import open_storage

pytestmark = pytest.mark.unit

HEADER = "pickup,fare_amount,tip_amount\n"


@pytest.fixture
def folder(tmp_path):
    """Two files of trips: a.csv holds 2019-01 and 2019-02, b.csv 2019-02 and 2019-03 (and a bad
    timestamp, which is ingestion's to quarantine); notes.txt does not match the pattern."""
    root = tmp_path / "trips"
    root.mkdir()
    (root / "a.csv").write_text(
        HEADER + "2019-01-03 10:00:00,10,1\n2019-02-04 11:00:00,5,2\n2019-02-05,5,0\n"
    )
    (root / "b.csv").write_text(HEADER + "2019-03-01T00:00:00,10,1\n2019-02-28,5,2\nnot a date,1,1\n")
    (root / "notes.txt").write_text("no,csv,here\n")
    return root


def test_latest_picks_the_newest_month_and_the_files_holding_it(folder):
    selection = resolve_spans(str(folder), "*.csv", "latest", 1, span_column="pickup")
    assert selection.months == ("2019-03",)
    assert selection.span == 201903
    assert [f.name for f in selection.files] == ["b.csv"]


def test_a_window_of_two_takes_each_file_once(folder):
    selection = resolve_spans(str(folder), "*.csv", "latest", 2, span_column="pickup")
    assert selection.months == ("2019-02", "2019-03")
    assert [f.name for f in selection.files] == ["a.csv", "b.csv"]
    first = resolve_spans(str(folder), "*.csv", "2019-01", 1, span_column="pickup")
    assert (first.months, [f.name for f in first.files]) == (("2019-01",), ["a.csv"])


def test_the_scan_counts_each_file_s_rows_by_month(folder):
    storage = open_storage(str(folder))
    found = span_selection.scan_months(storage, "*.csv", "pickup")
    assert {month: sorted(info.name for info in infos) for month, infos in found.items()} == {
        "2019-01": ["a.csv"],
        "2019-02": ["a.csv", "b.csv"],
        "2019-03": ["b.csv"],
    }
    [b] = [info for info in storage.list("") if info.name == "b.csv"]
    assert span_selection.file_months(storage, b, "pickup") == {"2019-02": 1, "2019-03": 1}


def test_a_custom_span_format(tmp_path):
    (tmp_path / "trips.csv").write_text(
        "fare,pickup\n1,12/31/2018 11:30:00 PM\n2,01/01/2019 12:05:00 AM\n3,2019-02-01 00:00:00\n"
    )
    selection = resolve_spans(
        str(tmp_path), "*.csv", "latest", 2, span_column="pickup", span_format="%m/%d/%Y %I:%M:%S %p"
    )
    assert selection.months == ("2018-12", "2019-01")
    assert [f.name for f in selection.files] == ["trips.csv"]


def test_a_span_not_present_names_the_months_available(folder):
    with pytest.raises(SpanError, match="span 2019-05 not found: no row with pickup in 2019-05") as err:
        resolve_spans(str(folder), "*.csv", "2019-05", 1, span_column="pickup")
    assert "available: 2019-01, 2019-02, 2019-03" in str(err.value)
    with pytest.raises(SpanError, match="span 2018-11, 2018-12 of the 4-month window ending 2019-02 not found"):
        resolve_spans(str(folder), "*.csv", "2019-02", 4, span_column="pickup")


def test_a_file_lacking_the_span_column_is_named_with_the_column(folder):
    (folder / "c.csv").write_text("when,fare_amount,tip_amount\n2019-04-01,1,1\n")
    with pytest.raises(SpanError, match=r"c\.csv: no column 'pickup' \(dataset\.span_column\)") as err:
        resolve_spans(str(folder), "*.csv", "latest", 1, span_column="pickup")
    assert "the header has: when, fare_amount, tip_amount" in str(err.value)


def test_no_parseable_timestamp_names_the_column_and_format(tmp_path):
    (tmp_path / "trips.csv").write_text("pickup,fare\nyesterday,1\n")
    with pytest.raises(SpanError, match="has a pickup timestamp that parses .*ISO 8601.*dataset.span_format"):
        resolve_spans(str(tmp_path), "*.csv", "latest", 1, span_column="pickup")


def test_a_pattern_naming_span_is_refused_with_a_span_column(folder):
    with pytest.raises(SpanError, match=r"names \{span\}, but dataset.span_column finds each row's month"):
        resolve_spans(str(folder), "{span}/*.csv", "latest", 1, span_column="pickup")


def test_no_matching_file_is_named(folder):
    with pytest.raises(SpanError, match=r"no impressions matching '\*\.tsv'"):
        resolve_spans(str(folder), "*.tsv", "latest", 1, span_column="pickup")
