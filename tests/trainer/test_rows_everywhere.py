"""The same raw rows through ingestion, `clickpipe predict` and the REST and gRPC request path.

Each row goes through the real ingestion DoFn (as Beam runs it per file) and through the real
`clickpipe predict` command against our server hosting an echo model, whose answer is the
serialized tf.Example it was sent. Either both paths produce the same example (serving requests
carry no label) or both reject the row for the same reason with the same words.
"""

from __future__ import annotations

import base64
import json

import pytest

from tests.components.ingest import dataset as ds

pytestmark = pytest.mark.integration

MONTH = "2026-10"
MODEL = "echo"
# name -> column values replacing those of a valid row.
ROWS = {
    "valid": {},
    "nan": {"bid_price": "nan"},
    "NaN, capitalised": {"bid_price": "NaN"},
    "inf": {"hour": "inf"},
    "-Infinity": {"bid_price": "-Infinity"},
    "beyond float32": {"bid_price": "1e308"},
    "python digit grouping": {"user_prior_clicks": "1_000"},
    "blank number takes the default": {"hour": "   "},
    "spaces around a number": {"bid_price": " 1.25 "},
    "spaces around a category are kept": {"device_type": " mobile "},
    "empty category": {"region": ""},
    "unicode text": {"ad_title": "Schuhe für Läufer – jetzt ☃"},
    "blank example id": {"impression_id": "  "},
    "missing creative": {"ad_id": "ad_missing"},
    "undecodable creative": {"ad_id": "ad_broken"},
}


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    root = tmp_path_factory.mktemp("rows")
    ds.write_creatives(root, ["ad_1"])
    (root / "creatives" / "ad_broken.png").write_bytes(ds.png()[:30])
    lines = [ds.csv_line({**ds.row(f"imp-{i}"), **values}) for i, values in enumerate(ROWS.values())]
    ds.write_span(root, MONTH, lines)
    return root, lines


@pytest.fixture(scope="module")
def ingested(source, tmp_path_factory):
    """Per row, in file order: ("example", bytes) or ("rejected", reason, detail)."""
    import tensorflow as tf

    from components.ingest.storage import open_storage
    from components.ingest.transforms import IngestFile

    root, _ = source
    out = tmp_path_factory.mktemp("ingested")
    for split in ("train", "eval"):
        (out / "examples" / f"Split-{split}").mkdir(parents=True)
    (out / "quarantine").mkdir()
    registry = ds.registry()
    [info] = list(open_storage(str(root)).list(f"impressions/{MONTH}/"))
    ingest = IngestFile(str(root), registry.to_dict(), 20, str(out / "examples"), str(out / "quarantine"), files=1)
    ingest.setup()
    list(ingest.process((0, info)) or [])
    examples = {}
    for path in sorted((out / "examples").glob("Split-*/*.gz")):
        for record in tf.data.TFRecordDataset(str(path), compression_type="GZIP"):
            serialized = record.numpy()
            example_id = tf.train.Example.FromString(serialized).features.feature[registry.example_id]
            examples[example_id.bytes_list.value[0].decode()] = serialized
    quarantined = {}
    for path in (out / "quarantine").glob("*.jsonl"):
        for line in path.read_text().splitlines():
            record = json.loads(line)
            quarantined[record["line"]] = ("rejected", record["reason"], record["detail"])
    # Row i of the file is on line i + 2 (after the header) and has id imp-i.
    return [
        examples.get(f"imp-{i}") and ("example", examples[f"imp-{i}"]) or quarantined[i + 2] for i in range(len(ROWS))
    ]


@pytest.fixture(scope="module")
def echo_server(tmp_path_factory):
    import tensorflow as tf

    from serving.server import ModelServer, ServerOptions

    class Echo(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def serve(self, examples):
            return {"example_bytes": tf.identity(examples)}

    base = tmp_path_factory.mktemp("echo") / MODEL
    module = Echo()
    tf.saved_model.save(module, str(base / "1"), signatures={"serving_default": module.serve})
    options = ServerOptions(file_system_poll_wait_seconds=0)
    with ModelServer(str(base), MODEL, rest_port=0, grpc_port=0, options=options) as server:
        yield server


def _predict(capsys, config_path, endpoint: list[str], line: str):
    from pipeline.cli import main

    code = main(["predict", "--config", str(config_path), *endpoint, "--model_name", MODEL, "--csv_row", line])
    out, err = capsys.readouterr()
    if code != 0:
        return ("error", err.strip())
    [value] = json.loads(out)["outputs"]["example_bytes"]
    return ("example", base64.b64decode(value["b64"]))


def _without_label(serialized: bytes) -> bytes:
    from tensorflow.core.example import example_pb2

    example = example_pb2.Example.FromString(serialized)
    del example.features.feature[ds.registry().label]
    return example


@pytest.mark.parametrize("transport", ["rest", "grpc"])
def test_ingestion_and_serving_agree_on_every_row(source, ingested, echo_server, tmp_path, capsys, transport):
    from tensorflow.core.example import example_pb2

    root, lines = source
    config_path = tmp_path / "clickpipe.toml"
    config_path.write_text(_default_config_reading(root))
    endpoint = (
        ["--rest_url", echo_server.rest_url] if transport == "rest" else ["--grpc_target", echo_server.grpc_target]
    )

    assert len(ingested) == len(ROWS)
    for name, line, trained in zip(ROWS, lines, ingested, strict=True):
        served = _predict(capsys, config_path, endpoint, line)
        if trained[0] == "example":
            assert served[0] == "example", (name, served)
            assert example_pb2.Example.FromString(served[1]) == _without_label(trained[1]), name
        else:
            _, reason, detail = trained
            assert served == ("error", f"clickpipe: the impression is not valid model input ({reason}): {detail}"), name


def test_the_awkward_rows_are_decided_as_the_contract_says(ingested):
    decided = {
        name: result[1] if result[0] == "rejected" else "example" for name, result in zip(ROWS, ingested, strict=True)
    }

    assert decided == {
        "valid": "example",
        "nan": "bad_value_type",
        "NaN, capitalised": "bad_value_type",
        "inf": "bad_value_type",
        "-Infinity": "bad_value_type",
        "beyond float32": "bad_value_type",
        "python digit grouping": "bad_value_type",
        "blank number takes the default": "example",
        "spaces around a number": "example",
        "spaces around a category are kept": "example",
        "empty category": "example",
        "unicode text": "example",
        "blank example id": "bad_value_type",
        "missing creative": "missing_creative",
        "undecodable creative": "undecodable_image",
    }


def _default_config_reading(root) -> str:
    from importlib import resources

    text = resources.files("pipeline").joinpath("default.toml").read_text()
    return text.replace('source = "demo-data"', f'source = "{root}"')
