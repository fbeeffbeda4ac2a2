"""One impression (CSV row or JSON) as model input, through the feature registry."""

from __future__ import annotations

import pytest
from tensorflow.core.example import example_pb2

from serving import impressions
from serving.impressions import ImpressionError
from trainer.features import Feature, FeatureRegistry, Kind

REGISTRY = FeatureRegistry(
    label="clicked",
    example_id="impression_id",
    features=(
        Feature("ad_id", Kind.CATEGORICAL),
        Feature("bid", Kind.NUMERIC, default=0.5),
        Feature("title", Kind.TEXT),
        Feature(
            "creative", Kind.IMAGE, source_column="ad_id", uri_template="creatives/{ad_id}.png"
        ),
    ),
)


def reader(relative: str) -> bytes:
    if relative != "creatives/a7.png":
        raise OSError("no such file")
    return b"\x89PNG-a7"


def test_csv_row_in_the_span_column_order():
    assert REGISTRY.csv_columns == ["impression_id", "ad_id", "bid", "title", "clicked"]
    row = impressions.parse_csv_row('i1,a7,1.25,"Big, sale",0', REGISTRY.csv_columns)
    values = impressions.feature_values(REGISTRY, row, reader)
    assert values == {"ad_id": b"a7", "bid": 1.25, "title": b"Big, sale", "creative": b"\x89PNG-a7"}
    example = example_pb2.Example.FromString(impressions.to_example(values))
    assert example.features.feature["bid"].float_list.value == [1.25]
    assert example.features.feature["creative"].bytes_list.value == [b"\x89PNG-a7"]
    assert "clicked" not in example.features.feature


def test_json_impression_with_inline_creative_and_default_number():
    impression = impressions.parse_json_impression(
        '{"ad_id": "zz", "bid": "", "title": "t", "creative": {"b64": "AAE="}}'
    )
    values = impressions.feature_values(REGISTRY, impression, reader)
    assert values["creative"] == b"\x00\x01" and values["bid"] == 0.5
    raw = impressions.to_raw_inputs(values)
    assert raw["bid"].dtype.name == "float32" and raw["ad_id"].tolist() == [b"zz"]


@pytest.mark.parametrize(
    ("impression", "message"),
    [
        ({"ad_id": "a7", "title": "t"}, "no column 'bid'"),
        ({"ad_id": "a7", "bid": "cheap", "title": "t"}, "column 'bid' must be a number"),
        (
            {"ad_id": "b1", "bid": 1, "title": "t"},
            "cannot read creative creatives/b1.png for column 'ad_id'",
        ),
        ({"ad_id": "a7", "bid": 1, "title": "t", "creative": {"b64": "@@"}}, "not valid base64"),
    ],
)
def test_bad_impressions_name_the_column(impression, message):
    with pytest.raises(ImpressionError, match=message):
        impressions.feature_values(REGISTRY, impression, reader)


def test_bad_csv_and_json_are_explained():
    with pytest.raises(ImpressionError, match="has 2 values but the header has 5 columns"):
        impressions.parse_csv_row("a,b", REGISTRY.csv_columns)
    with pytest.raises(ImpressionError, match="not valid JSON"):
        impressions.parse_json_impression("{bad")
    with pytest.raises(ImpressionError, match="must be a JSON object"):
        impressions.parse_json_impression("[1]")
