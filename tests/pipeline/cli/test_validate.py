"""`clickpipe schema infer` and `clickpipe monitor` through the real CLI entry point."""

from __future__ import annotations

import base64
import json
import re

import pytest

from pipeline import cli
from pipeline.cli.common import EXIT_FAILED, EXIT_OK

MONTH = "2026-03"


@pytest.fixture(scope="module")
def span(tmp_path_factory):
    """A generated month: its data folder, its examples per split, and the config."""
    from datagen.generator import GeneratorSettings, generate
    from pipeline.config import load_config
    from tests.components.validate.spans import month_examples

    data = tmp_path_factory.mktemp("cli-data")
    generate(data, [MONTH], GeneratorSettings(impressions=12_000, seed=9))
    config = load_config()
    return data, month_examples(data, MONTH, config.registry()), config


def _write_statistics(folder, examples, schema=None):
    from tests.components.validate.spans import span_statistics

    for split, stats in span_statistics(examples, schema).items():
        (folder / f"Split-{split}").mkdir(parents=True)
        (folder / f"Split-{split}" / "FeatureStats.pb").write_bytes(stats.SerializeToString())
    return folder


def test_schema_infer_writes_a_proposal_and_compares_it(span, tmp_path, capsys):
    _, examples, _ = span
    statistics = _write_statistics(tmp_path / "statistics", examples)
    out = tmp_path / "proposal.pbtxt"

    code = cli.main(["schema", "infer", MONTH, "--statistics", str(statistics), "--out", str(out)])

    printed = capsys.readouterr().out
    assert code == EXIT_OK
    assert out.read_text().startswith(f"# clickpipe schema proposal, inferred from the statistics of span {MONTH}")
    assert f"written to {out}" in printed
    # The curated schema leaves ad_id without a domain; the raw proposal has one.
    assert re.search(r"^    ad_id: \d+ new domain value\(s\): ad-", printed, re.MULTILINE)


def test_schema_infer_without_statistics_computes_them_and_names_a_missing_source(tmp_path, capsys):
    code = cli.main(["schema", "infer", MONTH, "--home", str(tmp_path / "home")])

    assert code == EXIT_FAILED
    captured = capsys.readouterr()
    assert f"no statistics of span {MONTH} yet: ingesting it and computing them" in captured.out
    error = captured.err.strip()
    assert error.startswith("clickpipe: source folder ") and error.endswith("does not exist")


def test_schema_infer_rejects_a_bad_span(capsys):
    assert cli.main(["schema", "infer", "2026-13"]) == EXIT_FAILED
    assert capsys.readouterr().err.strip() == "clickpipe: SPAN '2026-13': use a month like 2026-10"


def test_monitor_without_validated_training_statistics_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "requests").mkdir()

    code = cli.main(["monitor", "--requests", str(tmp_path / "requests"), "--span", MONTH, "--store", str(tmp_path)])

    assert code == EXIT_FAILED
    assert f"no validated train statistics of span {MONTH}" in capsys.readouterr().err


def _raw_request(example, registry) -> dict:
    """A serving request's raw features from an ingested example (what an ad server sends)."""
    features = example.features.feature
    row = {}
    for feature in registry.features:
        values = features[feature.name]
        if feature.kind.value == "numeric":
            row[feature.name] = values.float_list.value[0]
        elif feature.kind.value == "image":
            row[feature.name] = {"b64": base64.b64encode(values.bytes_list.value[0]).decode()}
        else:
            row[feature.name] = values.bytes_list.value[0].decode()
    return row


def _store_and_requests(tmp_path, span, keep):
    from tensorflow.core.example import example_pb2

    from components.validate.store import MARKER, read_schema
    from pipeline.validation import schema_file

    _, examples, config = span
    schema = read_schema(schema_file(config))
    month_dir = tmp_path / "store" / "statistics" / MONTH
    _write_statistics(month_dir, {"train": examples["train"]}, schema)
    (month_dir / MARKER).write_text("test\n")
    requests = tmp_path / "requests"
    requests.mkdir()
    rows = [example_pb2.Example.FromString(record) for record in examples["eval"]]
    lines = [json.dumps(_raw_request(row, config.registry())) for row in rows if keep(row)]
    (requests / "requests.jsonl").write_text("\n".join([*lines, "not json"]) + "\n")
    return tmp_path / "store", requests


@pytest.mark.integration
def test_monitor_passes_requests_like_the_training_span(span, tmp_path, capsys):
    store, requests = _store_and_requests(tmp_path, span, keep=lambda example: True)
    out = tmp_path / "report"

    code = cli.main(["monitor", "--requests", str(requests), "--span", MONTH, "--store", str(store), "--out", str(out)])

    printed = capsys.readouterr().out
    assert code == EXIT_OK, printed
    assert f"serving requests vs span {MONTH} passed validation" in printed
    assert "unparseable_line 1" in printed
    page = (out / "anomalies.html").read_text()
    assert "approx. Jensen-Shannon divergence" in page and "L-infinity distance" in page  # both comparators ran
    assert (out / "statistics.html").is_file()
    assert json.loads((out / "quarantine.jsonl").read_text())["reason"] == "unparseable_line"


@pytest.mark.integration
def test_monitor_alerts_on_skew_and_names_the_feature(span, tmp_path, capsys):
    from pipeline.cli.validate import EXIT_ALERT

    def mobile_only(example):
        return example.features.feature["device_type"].bytes_list.value[0] == b"mobile"

    store, requests = _store_and_requests(tmp_path, span, keep=mobile_only)

    code = cli.main(["monitor", "--requests", str(requests), "--span", MONTH, "--store", str(store)])

    printed = capsys.readouterr().out
    assert code == EXIT_ALERT
    problem_lines = [line for line in printed.splitlines() if line.startswith("  device_type")]
    assert len(problem_lines) == 1 and "skew vs 2026-03 train" in problem_lines[0]
    assert list((store / "reports" / MONTH).glob("serving-*/anomalies.html"))


def test_schema_infer_finds_the_span_statistics_in_ml_metadata(span, tmp_path, capsys):
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    from pipeline.config import load_config

    _, examples, _ = span
    home = tmp_path / "home"
    config = load_config().with_overrides(pipeline={"home": str(home)})
    home.mkdir()
    connection = metadata_store_pb2.ConnectionConfig()
    connection.sqlite.filename_uri = config.pipeline.metadata_path
    connection.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    store = metadata_store.MetadataStore(connection)
    statistics_type = metadata_store_pb2.ArtifactType(name="ExampleStatistics")
    statistics_type.properties["span"] = metadata_store_pb2.INT
    type_id = store.put_artifact_type(statistics_type)
    uris = {}
    for month, span_number in (("other", 202602), ("this", 202603)):
        uris[month] = _write_statistics(tmp_path / month, examples)
        live = metadata_store_pb2.Artifact.LIVE
        artifact = metadata_store_pb2.Artifact(type_id=type_id, uri=str(uris[month]), state=live)
        artifact.properties["span"].int_value = span_number
        store.put_artifacts([artifact])

    code = cli.main(["schema", "infer", MONTH, "--home", str(home)])

    assert code == EXIT_OK
    assert f"schema proposal from {uris['this']} written to {home / 'schema' / f'proposal-{MONTH}.pbtxt'}" in (
        capsys.readouterr().out
    )
