"""The run a push record names: TFX's run id locally, the KFP run id on Kubeflow."""

from types import SimpleNamespace

from components.push.executor import run_id

KFP_RUN = "0b6a1f1e-7c1d-4a57-9a55-3c1f4bb0f0c1"
TASK_UUID = "9f4c2e8a-1b7d-4f0e-8a3c-5d6e7f8a9b0c"


def test_the_local_runner_gives_its_run_id():
    assert run_id(SimpleNamespace(pipeline_run_id="20261003-120000"), "/anything") == "20261003-120000"


def test_on_kubeflow_the_run_is_read_from_the_output_uri():
    uri = f"gs://bucket/root/clickpipe/{KFP_RUN}/PushModel/{TASK_UUID}/pushed_model"

    assert run_id(SimpleNamespace(pipeline_run_id=None), uri) == KFP_RUN
    assert run_id(None, uri + "/") == KFP_RUN


def test_an_unknown_layout_gives_no_run_rather_than_a_wrong_one():
    assert run_id(None, "/home/clickpipe/pipeline-root/PushModel/pushed_model/12") == ""
    assert run_id(None, "pushed_model") == ""
