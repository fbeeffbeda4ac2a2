"""The same raw rows through ingestion, `clickpipe predict` and the REST and gRPC request path.

Each row goes through the real ingestion DoFns (as Beam runs them per file) and through the real
`clickpipe predict` command against our server hosting an echo model, whose answer is the
serialized tf.Example it was sent. Either both paths produce the same example (serving requests
carry no label, and the creative's file where ingestion stores its model input) or both reject
the row for the same reason with the same words. Then a trained model scores a batch of rows
with banners and icons through `clickpipe predict` exactly as it scores the ingested examples.
"""

from __future__ import annotations

import base64
import json

import pytest

from tests.bad_creatives import bad_creatives, banner
from tests.components.ingest import dataset as ds
from trainer import images
from trainer.features import Kind

pytestmark = pytest.mark.integration

MONTH = "2026-10"
MODEL = "echo"
IMAGE = ds.registry().of_kind(Kind.IMAGE)[0].name
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
    **{f"{name} creative": {"ad_id": f"ad_{name}"} for name in bad_creatives()},
    "banner creative": {"ad_id": "ad_banner"},
}


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    root = tmp_path_factory.mktemp("rows")
    ds.write_creatives(root, ["ad_1"])
    (root / "creatives" / "ad_broken.png").write_bytes(ds.png()[:30])
    for name, (data, _) in bad_creatives().items():
        (root / "creatives" / f"ad_{name}.png").write_bytes(data)
    (root / "creatives" / "ad_banner.png").write_bytes(banner())
    lines = [ds.csv_line({**ds.row(f"imp-{i}"), **values}) for i, values in enumerate(ROWS.values())]
    ds.write_span(root, MONTH, lines)
    return root, lines


def ingest_span(root, out, month: str = MONTH) -> dict:
    """The span's one file through ingestion's DoFns, as Beam runs them: its creatives named,
    prepared once, then its rows encoded with them; returns the prepared creatives by path."""
    from components.ingest.storage import open_storage
    from components.ingest.transforms import CreativeNames, IngestFile, PrepareCreatives

    for split in ("train", "eval"):
        (out / "examples" / f"Split-{split}").mkdir(parents=True)
    (out / "quarantine").mkdir()
    registry = ds.registry()
    [info] = list(open_storage(str(root)).list(f"impressions/{month}/"))
    names = CreativeNames(str(root), registry.to_dict())
    names.setup()
    prepare = PrepareCreatives(str(root), registry.image_size)
    prepare.setup()
    creatives = dict(prepare.process(list(names.process((0, info)))))
    ingest = IngestFile(str(root), registry.to_dict(), 20, str(out / "examples"), str(out / "quarantine"), files=1)
    ingest.setup()
    list(ingest.process((0, info), creatives) or [])
    return creatives


@pytest.fixture(scope="module")
def ingested(source, tmp_path_factory):
    """Per row, in file order: ("example", bytes) or ("rejected", reason, detail). A training
    row's creative is the model input its key names among the creatives ingestion prepared and
    stores (whose pixels the trainer's `ThumbnailTable` gives the model in its place:
    tests/trainer/test_thumbnail_table.py)."""
    import tensorflow as tf

    root, _ = source
    out = tmp_path_factory.mktemp("ingested")
    registry = ds.registry()
    prepared = ingest_span(root, out).values()
    store = {images.thumbnail_key(c.thumbnail): c.thumbnail for c in prepared if c.thumbnail}
    examples = {}
    for path in sorted((out / "examples").glob("Split-*/*.gz")):
        for record in tf.data.TFRecordDataset(str(path), compression_type="GZIP"):
            example = tf.train.Example.FromString(record.numpy())
            creative = example.features.feature[IMAGE].bytes_list.value
            assert creative[0].startswith(images.THUMBNAIL_KEY_PREFIX) == ("Split-train" in str(path))
            creative[0] = store[creative[0]] if "Split-train" in str(path) else creative[0]
            example_id = example.features.feature[registry.example_id]
            examples[example_id.bytes_list.value[0].decode()] = example.SerializeToString()
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


def _without(serialized: bytes, *names: str):
    from tensorflow.core.example import example_pb2

    example = example_pb2.Example.FromString(serialized)
    for name in names:
        del example.features.feature[name]
    return example


def _image(serialized: bytes) -> bytes:
    from tensorflow.core.example import example_pb2

    return example_pb2.Example.FromString(serialized).features.feature[IMAGE].bytes_list.value[0]


@pytest.mark.parametrize("transport", ["rest", "grpc"])
def test_ingestion_and_serving_agree_on_every_row(source, ingested, echo_server, tmp_path, capsys, transport):

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
            assert _without(served[1], IMAGE) == _without(trained[1], ds.registry().label, IMAGE), name
            # Serving sends the creative's file; ingestion stored its model input, made from that file.
            [thumbnail] = images.thumbnails([_image(served[1])], ds.registry().image_size)
            assert _image(trained[1]) == thumbnail, name
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
        **{f"{name} creative": "undecodable_image" for name in bad_creatives()},
        "banner creative": "example",
    }


def _default_config_reading(root) -> str:
    from importlib import resources

    text = resources.files("pipeline").joinpath("default.toml").read_text()
    return text.replace('source = "demo-data"', f'source = "{root}"')


@pytest.fixture(scope="module")
def model_server(exported_dir, tmp_path_factory):
    """Our server hosting the session's trained model (`tests/trainer/conftest.py`)."""
    import shutil

    from serving.server import ModelServer, ServerOptions

    base = tmp_path_factory.mktemp("clicks") / "clicks"
    shutil.copytree(exported_dir, base / "1")
    options = ServerOptions(file_system_poll_wait_seconds=0)
    with ModelServer(str(base), "clicks", rest_port=0, grpc_port=0, options=options) as server:
        yield server


@pytest.mark.parametrize("transport", ["rest", "grpc"])
def test_a_batch_of_rows_scores_the_same_through_predict_as_through_the_training_data(
        source, ingested, exported_dir, model_server, tmp_path, capsys, transport):
    import tensorflow as tf

    from pipeline.cli import main

    root, lines = source
    config_path = tmp_path / "clickpipe.toml"
    config_path.write_text(_default_config_reading(root))
    endpoint = (["--rest-url", model_server.rest_url] if transport == "rest"
                else ["--grpc-target", model_server.grpc_target])
    registry = ds.registry()
    serving_default = tf.saved_model.load(str(exported_dir)).signatures["serving_default"]
    scored = {}
    for name, line, trained in zip(ROWS, lines, ingested, strict=True):
        if trained[0] != "example":
            continue
        # The training data path: the ingested example (thumbnail inside) through the model's graph.
        from_training = serving_default(examples=tf.constant([trained[1]]))[registry.prediction].numpy()[0, 0]
        code = main(["predict", "--config", str(config_path), *endpoint, "--model-name", "clicks",
                     "--csv-row", line])
        out, err = capsys.readouterr()
        assert code == 0, (name, err)
        [[from_serving]] = json.loads(out)["outputs"][registry.prediction]
        scored[name] = (float(from_training), from_serving)
    assert {"valid", "banner creative", "unicode text"} <= set(scored)
    assert all(training == serving for training, serving in scored.values()), scored
    # The rows differ, so equal scores are not one constant answer.
    assert len({training for training, _ in scored.values()}) > 1
