"""The raw-row contract: record splitting, typing, splitting by id and quarantine records."""

import base64
import csv
import json

import pytest

from tests.components.ingest import dataset as ds
from trainer import rows

REGISTRY = ds.registry()
HEADER = REGISTRY.csv_columns


def parser() -> rows.RowParser:
    return rows.RowParser(REGISTRY, HEADER)


def line(**values: str) -> bytes:
    return ds.csv_line(ds.row("imp-1", **values)).encode()


def test_iter_records_joins_lines_across_chunks_and_strips_crlf():
    chunks = [b"head", b"er\r\nrow1\nro", b"w2\r\n", b"row3"]
    assert list(rows.iter_records(chunks)) == [(1, b"header"), (2, b"row1"), (3, b"row2"), (4, b"row3")]


def test_iter_records_keeps_blank_lines_and_drops_only_the_final_newline():
    assert list(rows.iter_records([b"a\n\nb\n"])) == [(1, b"a"), (2, b""), (3, b"b")]


def test_a_quoted_newline_stays_inside_its_record():
    chunks = [b'h\r\n1,"two\r\nli', b'nes",x\n2,"""q""",y\n']
    assert list(rows.iter_records(chunks)) == [(1, b"h"), (2, b'1,"two\nlines",x'), (4, b'2,"""q""",y')]
    assert rows.split_fields('1,"two\nlines",x') == ["1", "two\nlines", "x"]


def test_a_stray_quote_costs_its_own_line_only():
    chunks = [b'h\n1,"never closed\n2,a\n3,b"c,"d\n4,e\n']
    assert list(rows.iter_records(chunks)) == [
        (1, b"h"),
        (2, b'1,"never closed'),
        (3, b"2,a"),
        (4, b'3,b"c,"d'),
        (5, b"4,e"),
    ]
    long = b'1,"open\n' + b"x\n" * (rows.MAX_RECORD_LINES + 5)
    records = list(rows.iter_records([long]))
    assert records[0] == (1, b'1,"open') and len(records) == rows.MAX_RECORD_LINES + 6


def test_split_fields_honours_quotes_and_rejects_an_open_quote():
    assert rows.split_fields('a,"b, c",d') == ["a", "b, c", "d"]
    assert rows.split_fields("a,,c") == ["a", "", "c"]
    with pytest.raises(csv.Error):
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
        (line(bid_price="cheap"), rows.BAD_VALUE_TYPE, "bid_price='cheap' is not a number a float32 can hold"),
        (line(hour="nan"), rows.BAD_VALUE_TYPE, "hour='nan' is not a number a float32 can hold"),
        (line(clicked="yes"), rows.BAD_VALUE_TYPE, "clicked='yes' is not 0 or 1"),
        (line(clicked=""), rows.BAD_VALUE_TYPE, "clicked='' is not 0 or 1"),
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


@pytest.mark.parametrize(
    ("values", "detail"),
    [
        ({"clicked": "99999999999999999999"}, "clicked='99999999999999999999' is not 0 or 1"),
        ({"clicked": "7"}, "clicked='7' is not 0 or 1"),
        ({"clicked": "1" * 5000}, "is not 0 or 1"),
        ({"bid_price": "1e308"}, "bid_price='1e308' is not a number a float32 can hold"),
        ({"bid_price": "1_000"}, "bid_price='1_000' is not a number a float32 can hold"),
        ({"bid_price": "0x10"}, "is not a number"),
        ({"hour": "Infinity"}, "is not a number"),
    ],
)
def test_values_a_csv_cannot_mean_are_bad_values(values, detail):
    rejected = parser().parse(line(**values))

    assert rejected.reason == rows.BAD_VALUE_TYPE and detail in rejected.detail
    assert len(rejected.detail) < 120  # a huge value is not copied whole into the detail


def test_a_bom_at_the_start_of_a_data_line_is_not_part_of_the_id():
    parsed = parser().parse(b"\xef\xbb\xbf" + line())

    assert parsed.example_id == "imp-1"
    assert rows.split_of(parsed.example_id, 20) == rows.split_of("imp-1", 20)


def test_a_header_naming_a_column_twice_is_refused():
    header = ",".join([*HEADER, "clicked"]).encode()

    with pytest.raises(rows.HeaderError, match="names column\\(s\\) clicked more than once"):
        rows.parse_header(header, REGISTRY, "f.csv")


def test_a_quoted_newline_is_one_row():
    text = ds.csv_line(ds.row("imp-1")).replace('"Fast shoes, for runners"', '"Fast shoes,\nfor runners"')
    [(number, record)] = list(rows.iter_records([text.encode()]))

    parsed = parser().parse(record)
    assert number == 1 and parsed.values["ad_title"] == b"Fast shoes,\nfor runners"


def test_with_the_header_width_a_stray_quote_does_not_swallow_a_later_multiline_row():
    data = b'a,b,c\n1,"stray,x\n2,y,z\n3,"two\nlines",w\n'
    reader = rows.Records([data])
    records = iter(reader)
    assert next(records) == (1, b"a,b,c")
    reader.width = 3

    assert list(records) == [(2, b'1,"stray,x'), (3, b"2,y,z"), (4, b'3,"two\nlines",w')]
