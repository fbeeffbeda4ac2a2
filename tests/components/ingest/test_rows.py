"""Unit tests of line parsing, typing, splitting and quarantine records."""

import base64
import json

import pytest

from components.ingest import rows
from tests.components.ingest import dataset as ds

REGISTRY = ds.registry()
HEADER = REGISTRY.csv_columns


def parser() -> rows.RowParser:
    return rows.RowParser(REGISTRY, HEADER)


def line(**values: str) -> bytes:
    return ds.csv_line(ds.row("imp-1", **values)).encode()


def test_iter_lines_joins_lines_across_chunks_and_strips_crlf():
    chunks = [b"head", b"er\r\nrow1\nro", b"w2\r\n", b"row3"]
    assert list(rows.iter_lines(chunks)) == [b"header", b"row1", b"row2", b"row3"]


def test_iter_lines_keeps_blank_lines_and_drops_only_the_final_newline():
    assert list(rows.iter_lines([b"a\n\nb\n"])) == [b"a", b"", b"b"]


def test_split_fields_honours_quotes_and_rejects_an_open_quote():
    assert rows.split_fields('a,"b, c",d') == ["a", "b, c", "d"]
    assert rows.split_fields("a,,c") == ["a", "", "c"]
    with pytest.raises(rows.csv.Error):
        rows.split_fields('a,"open')


def test_parse_header_strips_a_bom_and_names_missing_columns():
    header = ",".join(HEADER).encode()
    assert rows.parse_header(b"\xef\xbb\xbf" + header, REGISTRY, "f.csv") == HEADER
    short = ",".join(c for c in HEADER if c not in ("bid_price", "clicked")).encode()
    with pytest.raises(rows.HeaderError, match=r"f\.csv: header lacks column\(s\) bid_price, clicked"):
        rows.parse_header(short, REGISTRY, "f.csv")


def test_a_good_row_gets_a_type_per_kind():
    parsed = parser().parse(line(ad_id="ad_9", hour="", bid_price="1.5"))
    assert isinstance(parsed, rows.ParsedRow)
    assert parsed.example_id == "imp-1"
    assert parsed.values["impression_id"] == b"imp-1"
    assert parsed.values["timestamp"] == b"2026-10-03T10:00:00Z"
    assert parsed.values["ad_title"] == b"Fast shoes, for runners"
    assert parsed.values["bid_price"] == 1.5
    assert parsed.values["hour"] == REGISTRY["hour"].default
    assert parsed.values["clicked"] == 1
    assert parsed.kinds["clicked"] == "int" and parsed.kinds["hour"] == "float"
    assert parsed.creatives == {"creative": "creatives/ad_9.png"}


def test_columns_are_read_by_header_name_not_position():
    header = list(reversed(HEADER))
    values = ds.row("imp-7", bid_price="3.25")
    text = ",".join(f'"{values[c]}"' if "," in values[c] else values[c] for c in header)
    parsed = rows.RowParser(REGISTRY, header).parse(text.encode())
    assert parsed.example_id == "imp-7" and parsed.values["bid_price"] == 3.25


@pytest.mark.parametrize(
    ("raw", "reason", "detail"),
    [
        (b"\xff\xfe,broken", rows.UNPARSEABLE_LINE, "not UTF-8"),
        (b'imp-1,"unterminated', rows.UNPARSEABLE_LINE, "not CSV"),
        (b"a,b,c", rows.WRONG_COLUMN_COUNT, "3 columns, the header has 16"),
        (line(bid_price="cheap"), rows.BAD_VALUE_TYPE, "bid_price='cheap' is not a number"),
        (line(hour="nan"), rows.BAD_VALUE_TYPE, "hour='nan' is not a number"),
        (line(clicked="yes"), rows.BAD_VALUE_TYPE, "clicked='yes' is not an integer"),
        (line(clicked=""), rows.BAD_VALUE_TYPE, "clicked='' is not an integer"),
        (line(ad_id=""), rows.MISSING_CREATIVE, "ad_id is empty"),
    ],
)
def test_bad_lines_are_rejected_with_their_reason(raw, reason, detail):
    rejected = parser().parse(raw)
    assert isinstance(rejected, rows.Rejected)
    assert rejected.reason == reason
    assert detail in rejected.detail


def test_an_empty_example_id_is_a_bad_value():
    raw = ds.csv_line(ds.row("")).encode()
    assert parser().parse(raw) == rows.Rejected(rows.BAD_VALUE_TYPE, "impression_id is empty")


def test_split_is_a_stable_hash_of_the_id_near_the_eval_percent():
    ids = [f"imp-{i}" for i in range(5000)]
    first = [rows.split_of(i, 20) for i in ids]
    assert first == [rows.split_of(i, 20) for i in ids]
    share = first.count(rows.EVAL) / len(ids)
    assert 0.18 < share < 0.22
    # A larger eval share only moves rows from train to eval, never back.
    moved = [rows.split_of(i, 30) for i in ids]
    assert all(m == rows.EVAL for f, m in zip(first, moved, strict=True) if f == rows.EVAL)


def test_build_example_types_and_image_bytes():
    parsed = parser().parse(line(ad_id="ad_3"))
    image = ds.png()
    example = rows.build_example(parsed, {"creative": image})
    feature = example.features.feature
    assert feature["creative"].bytes_list.value == [image]
    assert feature["ad_id"].bytes_list.value == [b"ad_3"]
    assert feature["bid_price"].float_list.value == [pytest.approx(0.42)]
    assert feature["clicked"].int64_list.value == [1]
    assert set(feature) == {*REGISTRY.csv_columns, "creative"}


def test_quarantine_record_keeps_the_exact_bytes_of_unparseable_lines():
    raw = b"\xff\xfe,broken"
    record = json.loads(rows.quarantine_record("f.csv", 7, raw, parser().parse(raw)))
    assert record["file"] == "f.csv" and record["line"] == 7
    assert record["reason"] == rows.UNPARSEABLE_LINE
    assert base64.b64decode(record["row_base64"]) == raw
    bad = line(bid_price="x")
    typed = json.loads(rows.quarantine_record("f.csv", 8, bad, parser().parse(bad)))
    assert typed["row"] == bad.decode() and "row_base64" not in typed
