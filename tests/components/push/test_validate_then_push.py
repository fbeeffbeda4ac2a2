"""ValidateServing then PushModel on real artifacts; the pushed version loads with its warmup."""

from __future__ import annotations

import shutil

import pytest

from tests.components.push.helpers import push, record_copies
from tests.components.validate_serving import fixtures as fx

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("push")
    return {"examples": fx.write_examples(root / "examples", count=10),
            "model": fx.write_model(root / "model")}


def test_blessed_model_is_pushed_with_warmup_and_serves(world, tmp_path, monkeypatch):
    from serving import warmup
    from serving.client import GrpcClient
    from serving.server import ModelServer, ServerOptions

    blessing = fx.validate(world["model"], world["examples"], tmp_path / "blessing", 6)
    assert blessing.get_int_custom_property("blessed") == 1
    copies = record_copies(monkeypatch)

    pushed = push(world["model"], tmp_path / "base", blessing)

    version = tmp_path / "base" / pushed.get_string_custom_property("pushed_version")
    assert copies[-1] == str(version / "saved_model.pb")
    assert str(version / "assets.extra" / "tf_serving_warmup_requests") in copies[:-1]
    records = warmup.read_warmup_records(str(version))
    assert [r.WhichOneof("log_type") for r in records] == [
        "predict_log", "predict_log", "classify_log", "regress_log"]
    assert len(records[3].regress_log.request.input.example_list.examples) == 6
    # The pushed version loads (replaying its warmup records) and answers.
    options = ServerOptions(file_system_poll_wait_seconds=0)
    with ModelServer(str(tmp_path / "base"), "clickpipe", rest_port=None, grpc_port=0,
                     options=options) as server:
        client = GrpcClient(server.grpc_target)
        try:
            assert client.status("clickpipe")[0]["state"] == "AVAILABLE"
            answer = client.predict("clickpipe", {"examples": [fx.serialize(fx.eval_rows(1)[0])]})
        finally:
            client.close()
    assert answer["click_probability"].shape == (1, 1)


def test_corrupt_model_is_not_pushed(world, tmp_path):
    model = tmp_path / "corrupt"
    shutil.copytree(world["model"], model)
    fx.truncate_saved_model(model)

    blessing = fx.validate(model, world["examples"], tmp_path / "blessing")
    pushed = push(model, tmp_path / "base", blessing)

    assert blessing.get_int_custom_property("blessed") == 0
    assert pushed.get_int_custom_property("pushed") == 0
    assert not (tmp_path / "base").exists()
