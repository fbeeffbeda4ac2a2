"""The raw-row contract of a dataset of its own: a derived label, a row hash as key, spans by a
timestamp column."""

import re

import pyarrow as pa
import pytest

from tests.components.ingest import dataset as ds
from trainer import rows
from trainer.features import Feature, FeatureRegistry, Kind, LabelRule

pytestmark = pytest.mark.unit

TIPPED = LabelRule("tip_amount", ">", right_column="fare_amount", times=0.2)
FEATURES = (
    Feature("payment_type", Kind.CATEGORICAL),
    Feature("trip_distance", Kind.NUMERIC),
    Feature("fare_amount", Kind.NUMERIC),
)


def trips(**changes) -> FeatureRegistry:
    """Taxi trips without an id column, labelled "tipped" = tip_amount > 0.2 * fare_amount."""
    return FeatureRegistry(
        **{"label": "tipped", "example_id": "", "features": FEATURES, "label_rule": TIPPED, **changes}
    )


def csv(*lines: str) -> list[bytes]:
    return [line.encode() for line in lines]


def test_a_column_times_rule_labels_each_row_0_or_1():
    registry = trips()
    assert registry.csv_columns == ["payment_type", "trip_distance", "fare_amount", "tip_amount"]
    table = rows.RowParser(registry, registry.csv_columns).parse_records(
        csv("card,1.5,10,3", "card,1.5,10,1", "cash,2,10,2", "card,2, 20 ,4.5", "card,2,0,0.01")
    )
    assert table.rejected == {}
    # 3 > 2, 1 < 2, 2 is not > 2, 4.5 > 4, 0.01 > 0.
    assert table.values["tipped"].to_pylist() == [1, 0, 0, 1, 1]
    assert table.values["tipped"].type == pa.int64()
    # The right column is a feature as well, read as a number.
    assert table.values["fare_amount"].to_pylist() == [10, 10, 10, 20, 0]


def test_a_number_rule_compares_with_a_constant():
    registry = trips(label_rule=LabelRule("tip_amount", ">=", value=1.0))
    table = rows.RowParser(registry, registry.csv_columns).parse_records(csv("card,1,10,1", "card,1,10,0.99"))
    assert table.values["tipped"].to_pylist() == [1, 0]


def test_a_text_rule_with_equality_labels_the_cell_without_its_spaces():
    registry = trips(label="rich", label_rule=LabelRule("income", "==", value=">50K"))
    assert registry.csv_columns[-1] == "income"
    table = rows.RowParser(registry, registry.csv_columns).parse_records(
        csv("card,1,10,>50K", "card,1,10,<=50K", "card,1,10, >50K ", "card,1,10,>50k")
    )
    assert table.rejected == {}
    assert table.values["rich"].to_pylist() == [1, 0, 1, 0]
    unequal = trips(label="rich", label_rule=LabelRule("income", "!=", value=">50K"))
    table = rows.RowParser(unequal, unequal.csv_columns).parse_records(csv("card,1,10,>50K", "card,1,10,<=50K"))
    assert table.values["rich"].to_pylist() == [0, 1]


@pytest.mark.parametrize(
    ("line", "column", "why"),
    [
        ("card,1,10,", "tip_amount", "tip_amount='' is not a number"),
        ("card,1,10,   ", "tip_amount", "tip_amount='   ' is not a number"),
        ("card,1,10,abc", "tip_amount", "tip_amount='abc' is not a number"),
        ("card,1,10,nan", "tip_amount", "tip_amount='nan' is not a number"),
        # A blank fare is the feature's default, but the label cannot be computed from it.
        ("card,1,,3", "fare_amount", "fare_amount='' is not a number"),
    ],
)
def test_a_row_whose_rule_column_is_not_a_number_is_quarantined(line, column, why):
    registry = trips()
    table = rows.RowParser(registry, registry.csv_columns).parse_records(csv("card,1,10,3", line, "cash,1,10,1"))
    assert table.kept == [0, 2] and table.outside == []
    assert set(table.rejected) == {1}
    rejected = table.rejected[1]
    assert rejected.reason == rows.BAD_VALUE_TYPE
    assert rejected.detail.startswith(why)
    assert "label tipped (tip_amount > 0.2 * fare_amount) cannot be computed" in rejected.detail
    assert column in rejected.detail
    # Quarantined, not dropped: every row read is accepted or rejected.
    assert table.size == len(table.kept) + len(table.rejected) == 3
    assert table.values["tipped"].to_pylist() == [1, 0]


def test_a_blank_text_rule_column_is_quarantined_with_the_label_named():
    registry = trips(label="rich", label_rule=LabelRule("income", "==", value=">50K"))
    table = rows.RowParser(registry, registry.csv_columns).parse_records(csv("card,1,10,>50K", "card,1,10, "))
    assert table.kept == [0]
    assert table.rejected[1].reason == rows.BAD_VALUE_TYPE
    assert table.rejected[1].detail == "income=' ' is empty, so label rich (income == '>50K') cannot be computed"
    assert table.size == len(table.kept) + len(table.rejected)


def test_a_serving_request_needs_the_rule_s_columns_only_where_they_are_features():
    registry = trips()
    assert registry.request_columns == ["payment_type", "trip_distance", "fare_amount"]
    parser = rows.RowParser(registry, registry.request_columns, with_label=False)
    parsed = parser.parse(b"card,1,10")
    assert isinstance(parsed, rows.ParsedRow)
    assert "tipped" not in parsed.values and parsed.example_id == ""


def test_without_an_example_id_a_row_s_key_is_a_hash_of_its_fields():
    registry = trips()
    parser = rows.RowParser(registry, registry.csv_columns)
    table = parser.parse_records(csv("card,1,10,3", "card,1,10,3", "card,1,10,4", "cash,1,10,3", "card,1.0,10,3"))
    keys = table.example_ids
    assert all(re.fullmatch(r"[0-9a-f]{32}", key) for key in keys)
    assert keys[0] == keys[1]
    assert len(set(keys[1:])) == 4
    assert keys[0] == rows.row_key(["card", "1", "10", "3"])
    # Examples do not carry the key: no "" column, no row hash among the values.
    assert "" not in table.values


def test_a_row_s_key_does_not_depend_on_its_batch_or_the_file_s_column_order():
    registry = trips()
    parser = rows.RowParser(registry, registry.csv_columns)
    batch = parser.parse_records(csv("cash,2,5,1", "card,1,10,abc", "card,1,10,3", "card,7,70,0"))
    alone = parser.parse_records(csv("card,1,10,3"))
    assert batch.kept == [0, 2, 3]
    assert batch.example_ids[1] == alone.example_ids[0] == parser.parse(b"card,1,10,3").example_id
    # Another file with the columns in another order and one more column: the same key.
    header = ["note", "tip_amount", "fare_amount", "trip_distance", "payment_type"]
    shuffled = rows.RowParser(registry, header).parse_records(csv("whatever,3,10,1,card"))
    assert shuffled.example_ids == alone.example_ids


def test_an_inline_image_row_without_an_example_id_gets_a_key():
    registry = FeatureRegistry(
        label="liked",
        example_id="",
        features=(
            Feature("color", Kind.CATEGORICAL),
            Feature("photo", Kind.IMAGE, source_column="photo_id", uri_template="img/{photo_id}.png"),
        ),
    )
    parsed = rows.parse_mapping(registry, {"color": "red", "photo": ds.png(), "liked": "1"})
    assert isinstance(parsed, rows.ParsedRow)
    assert re.fullmatch(r"[0-9a-f]{32}", parsed.example_id)
    again = rows.parse_mapping(registry, {"color": "red", "photo": ds.png(), "liked": "1"})
    assert again.example_id == parsed.example_id


@pytest.mark.parametrize(
    ("value", "month"),
    [
        ("2019-01-05", "2019-01"),
        ("2019-01-05 13:04", "2019-01"),
        ("2019-01-05T13:04:05Z", "2019-01"),
        ("2019-12-31T23:59:59.250+01:00", "2019-12"),
        ("  2019-02-28 00:00:00 ", "2019-02"),
        ("2020-02-29", "2020-02"),
        ("2019-02-30", None),
        ("2019-02-29", None),
        ("2019-13-01", None),
        ("2019-01-05 24:00", None),
        ("2019-01", None),
        ("01/05/2019", None),
        ("garbage", None),
        ("", None),
    ],
)
def test_timestamp_months_of_iso_dates_and_date_times(value, month):
    assert rows.timestamp_months(pa.array([value], pa.string())).to_pylist() == [month]


def test_timestamp_months_of_a_custom_format():
    values = [
        "01/05/2019 01:02:03 PM",
        "12/31/2019 11:59:59 PM",
        "1/5/2019 1:02:03 AM",
        "02/30/2019 01:02:03 PM",
        "13/01/2019 01:02:03 PM",
        "2019-01-05 13:02:03",
        "garbage",
    ]
    months = rows.timestamp_months(pa.array(values, pa.string()), "%m/%d/%Y %I:%M:%S %p")
    assert months.to_pylist() == ["2019-01", "2019-12", "2019-01", None, None, None, None]


def test_a_span_column_keeps_the_months_asked_for_and_sets_the_others_aside():
    registry = trips(span_column="pickup")
    assert registry.csv_columns[0] == "pickup"
    parser = rows.RowParser(registry, registry.csv_columns, months={"2019-01"})
    table = parser.parse_records(
        csv(
            "2019-01-05 10:00:00,card,1,10,3",
            "2019-02-01 00:00:00,card,1,10,3",
            "not a date,card,1,10,3",
            "2019-01-31T23:59:59,cash,2,10,0",
            "2018-12-31,card,1,10,3",
            "2019-02-30,card,1,10,3",
            "2019-01-07,card,1,10,abc",
        )
    )
    assert table.kept == [0, 3]
    assert table.outside == [1, 4]
    assert set(table.rejected) == {2, 5, 6}
    assert table.rejected[2] == rows.Rejected(rows.BAD_VALUE_TYPE, "pickup='not a date' is not a timestamp (ISO 8601)")
    assert table.rejected[5].detail == "pickup='2019-02-30' is not a timestamp (ISO 8601)"
    assert table.rejected[6].detail.startswith("tip_amount='abc' is not a number")
    # Every row is accepted, rejected or another month's, once.
    assert table.size == len(table.kept) + len(table.rejected) + len(table.outside) == 7
    assert table.values["tipped"].to_pylist() == [1, 0]


def test_a_span_column_with_a_custom_format_names_it_when_a_timestamp_does_not_parse():
    registry = trips(span_column="pickup", span_format="%m/%d/%Y %I:%M:%S %p")
    parser = rows.RowParser(registry, registry.csv_columns, months={"2019-01"})
    table = parser.parse_records(
        csv("01/05/2019 01:02:03 PM,card,1,10,3", "02/05/2019 01:02:03 PM,card,1,10,3", "2019-01-05,card,1,10,3")
    )
    assert (table.kept, table.outside) == ([0], [1])
    assert table.rejected[2].detail == "pickup='2019-01-05' is not a timestamp (%m/%d/%Y %I:%M:%S %p)"


def test_a_batch_of_other_months_only_is_set_aside_whole():
    registry = trips(span_column="pickup")
    parser = rows.RowParser(registry, registry.csv_columns, months={"2019-01"})
    table = parser.parse_records(csv("2019-03-01,card,1,10,3", "2019-04-01,card,1,10,3"))
    assert (table.kept, table.rejected, table.outside, table.example_ids) == ([], {}, [0, 1], [])


def test_without_months_every_parseable_timestamp_is_kept():
    registry = trips(span_column="pickup")
    table = rows.RowParser(registry, registry.csv_columns).parse_records(
        csv("2019-03-01,card,1,10,3", "2017-04-01,card,1,10,3", "soon,card,1,10,3")
    )
    assert (table.kept, table.outside, list(table.rejected)) == ([0, 1], [], [2])
