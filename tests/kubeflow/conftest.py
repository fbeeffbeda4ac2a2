"""Fixtures of the Kubeflow tests: the fake KFP server, a spec to upload, a Kubeflow config."""

from importlib import resources

import pytest

from tests.kubeflow.fake_kfp import FakeKfp

PIPELINE_ROOT = "gs://clickpipe-test/pipeline-root"
SOURCE = "gs://clickpipe-test/ads"
MODEL_BASE_PATH = "gs://clickpipe-test/serving/clickpipe"
IMAGE = "europe-docker.pkg.dev/test-project/ml/clickpipe:1.2.3"

# A minimal valid KFP v2 spec: enough for the client, which parses it before a package run.
SPEC_YAML = """\
pipelineInfo:
  name: clickpipe
root:
  dag:
    tasks: {}
schemaVersion: 2.1.0
sdkVersion: tfx-1.16.0
"""


@pytest.fixture
def kfp_server():
    with FakeKfp() as server:
        yield server


@pytest.fixture
def spec_package(tmp_path):
    path = tmp_path / "clickpipe.yaml"
    path.write_text(SPEC_YAML)
    return path


def kubeflow_toml(host: str = "", schedule: str = "0 0 6 2 * *") -> str:
    """The built-in config with its storage in a bucket and the [kubeflow] section filled."""
    text = resources.files("pipeline").joinpath("default.toml").read_text()
    head, _, _ = text.partition("[kubeflow]")
    head = head.replace('source = "demo-data"', f'source = "{SOURCE}"')
    head = head.replace(
        'model_name = "clickpipe"',
        f'model_name = "clickpipe"\nmodel_base_path = "{MODEL_BASE_PATH}"',
    )
    return head + (
        "[kubeflow]\n"
        f'image = "{IMAGE}"\n'
        f'pipeline_root = "{PIPELINE_ROOT}"\n'
        f'host = "{host}"\n'
        'experiment = "clickpipe"\n'
        f'schedule = "{schedule}"\n'
    )


@pytest.fixture
def config_file(tmp_path, kfp_server):
    path = tmp_path / "kubeflow.toml"
    path.write_text(kubeflow_toml(host=kfp_server.host))
    return path
