"""Request logs: JSONL rows typed by their JSON values, bad lines quarantined, files found."""

from __future__ import annotations

import base64
import json

import pytest

from components.validate import requests

TYPES = {"hour": "FLOAT", "clicked": "INT", "device_type": "BYTES", "creative": "BYTES"}


def _feature(example, name):
    feature = example.features.feature[name]
    kind = feature.WhichOneof("kind")
    return kind, list(getattr(feature, kind).value)


def test_row_values_follow_json_types_and_schema_numbers():
    row = {"hour": 7, "clicked": 1, "device_type": "mobile", "creative": {"b64": base64.b64encode(b"\x89PNG").decode()},
           "region": None}

    example = requests.row_to_example(row, TYPES)

    assert _feature(example, "hour") == ("float_list", [7.0])
    assert _feature(example, "clicked") == ("int64_list", [1])
    assert _feature(example, "device_type") == ("bytes_list", [b"mobile"])
    assert _feature(example, "creative") == ("bytes_list", [b"\x89PNG"])
    assert "region" not in example.features.feature


def test_text_where_a_number_belongs_stays_text():
    example = requests.row_to_example({"hour": "07:00"}, TYPES)

    assert _feature(example, "hour") == ("bytes_list", [b"07:00"])


@pytest.mark.parametrize(
    ("value", "message"),
    [([1, "a"], "mixed value types"), ({"nested": 1}, "unsupported value"), ({"b64": "!!"}, "not base64")],
)
def test_values_that_cannot_be_features_are_refused(value, message):
    with pytest.raises(ValueError, match=message):
        requests.row_to_example({"hour": value}, TYPES)


def test_convert_jsonl_yields_examples_and_quarantines_bad_lines(tmp_path):
    path = tmp_path / "requests.jsonl"
    lines = [
        json.dumps({"hour": 3, "device_type": "tablet"}),
        json.dumps({"instances": [{"hour": 1}, {"hour": 2}]}),
        "{not json",
        json.dumps([1, 2]),
        json.dumps({"hour": {"x": 1}}),
        "",
    ]
    path.write_text("\n".join(lines) + "\n")

    results = list(requests.convert_jsonl([str(path)], TYPES))

    examples = [e for e, _ in results if e is not None]
    rejected = [r for _, r in results if r is not None]
    assert len(examples) == 3
    assert [(r["line"], r["reason"]) for r in rejected] == [
        (3, requests.UNPARSEABLE_LINE),
        (4, requests.NOT_AN_OBJECT),
        (5, requests.BAD_VALUE),
    ]
    assert rejected[0]["text"] == "{not json"


def test_find_request_files_skips_files_being_written(tmp_path):
    (tmp_path / "clickpipe" / "3").mkdir(parents=True)
    (tmp_path / "clickpipe" / "3" / "requests-1.tfrecord").write_bytes(b"")
    (tmp_path / "clickpipe" / "3" / "requests-2.tfrecord.tmp").write_bytes(b"")
    (tmp_path / "more.jsonl").write_text("")

    found = requests.find_request_files(str(tmp_path))

    assert [p.rsplit("/", 1)[1] for p in found.tfrecords] == ["requests-1.tfrecord"]
    assert [p.rsplit("/", 1)[1] for p in found.jsonl] == ["more.jsonl"]


def test_a_folder_without_request_files_is_a_clear_error(tmp_path):
    with pytest.raises(requests.RequestLogError, match="no request files"):
        requests.find_request_files(str(tmp_path))
    with pytest.raises(requests.RequestLogError, match="does not exist"):
        requests.find_request_files(str(tmp_path / "missing"))
