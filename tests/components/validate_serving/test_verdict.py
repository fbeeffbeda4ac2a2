"""Waiting for the candidate's status, and writing the verdict onto the InfraBlessing."""

from __future__ import annotations

import pytest

from components import artifacts
from components.validate_serving import executor, serving_check
from tests.components.validate_serving import fixtures as fx


class StatusSequence:
    """A client whose status answers are given in advance (our own waiting logic under test)."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls = 0

    def status(self, model, version):
        self.calls += 1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return [{"version": version, "state": answer, "error_code": "DATA_LOSS",
                 "error_message": "bad proto"}]


def test_wait_returns_once_available():
    from serving.client import ServingClientError

    client = StatusSequence(ServingClientError("not yet"), "LOADING", "AVAILABLE")
    assert serving_check.wait_for_version(client, "m", 1, timeout=30) == ""
    assert client.calls == 3


def test_wait_reports_a_failed_load_without_waiting_out_the_timeout():
    client = StatusSequence("END")
    assert serving_check.wait_for_version(client, "m", 1, timeout=3600) == "DATA_LOSS: bad proto"
    assert client.calls == 1


def test_wait_gives_up_after_the_timeout_with_the_last_state():
    client = StatusSequence("LOADING")
    assert serving_check.wait_for_version(client, "m", 1, timeout=0) == (
        "not AVAILABLE after 0s (state LOADING)")


def test_mark_not_blessed_writes_marker_reason_and_no_records(tmp_path):
    blessing = fx.blessing_artifact(tmp_path / "blessing")

    executor.mark(blessing, serving_check.Verdict(False, "the model did not load: boom"))

    assert blessing.get_int_custom_property(artifacts.BLESSED) == 0
    assert blessing.get_string_custom_property(artifacts.BLESSING_REASON) == "the model did not load: boom"
    assert sorted(p.name for p in (tmp_path / "blessing").iterdir()) == [executor.NOT_BLESSED_FILE]


def test_mark_blessed_writes_marker_and_warmup_records(tmp_path):
    from serving import warmup

    records = [warmup.regress_log([fx.serialize(fx.eval_rows(1)[0])], "regress")]
    blessing = fx.blessing_artifact(tmp_path / "blessing")

    executor.mark(blessing, serving_check.Verdict(True, warmup_records=records))

    assert blessing.get_int_custom_property(artifacts.BLESSED) == 1
    assert sorted(p.name for p in (tmp_path / "blessing").iterdir()) == [executor.BLESSED_FILE, "assets.extra"]
    assert warmup.read_warmup_records(str(tmp_path / "blessing")) == records


def test_component_refuses_a_request_count_tf_serving_would_not_replay():
    from tfx.types import channel_utils, standard_artifacts

    from components.validate_serving.component import ValidateServing

    model = channel_utils.as_channel([standard_artifacts.Model()])
    examples = channel_utils.as_channel([standard_artifacts.Examples()])
    with pytest.raises(ValueError, match="num_requests must be 1 to 1000, got 0"):
        ValidateServing(model=model, examples=examples, num_requests=0)
    component = ValidateServing(model=model, examples=examples)
    assert component.exec_properties[executor.NUM_REQUESTS_KEY] == 8
    assert component.outputs[executor.BLESSING_KEY].type_name == "InfraBlessing"
