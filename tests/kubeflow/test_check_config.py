"""A config that would leave data, artifacts or models on this machine stops before compiling."""

import pytest

from kubeflow.compile import CompileError, check_config, default_output
from pipeline.config import load_config
from tests.kubeflow.conftest import kubeflow_toml


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "kubeflow.toml"
    path.write_text(kubeflow_toml())
    return load_config(path)


def test_bucket_config_passes(config):
    check_config(config)


@pytest.mark.parametrize(
    ("section", "key", "local"),
    [
        ("kubeflow", "pipeline_root", "clickpipe-home/pipeline-root"),
        ("dataset", "source", "demo-data"),
        ("serving", "model_base_path", "/srv/models/clickpipe"),
        ("validation", "store", "clickpipe-home/validation"),
    ],
)
def test_a_local_path_names_its_key(config, section, key, local):
    local_config = config.with_overrides(**{section: {key: local}})

    with pytest.raises(CompileError) as error:
        check_config(local_config)

    assert str(error.value).startswith(f"{section}.{key} = {local!r} in {config.source_file} ")
    assert "set it to gs://BUCKET/..." in str(error.value)


def test_local_storage_is_allowed_only_when_asked_for(config):
    local = config.with_overrides(kubeflow={"pipeline_root": "/tmp/root"}, serving={"model_base_path": "/tmp/m"})

    check_config(local, require_buckets=False)
    with pytest.raises(CompileError):
        check_config(local)


def test_the_built_in_config_is_not_ready_for_kubeflow():
    ready_image = load_config().with_overrides(kubeflow={"image": "europe-docker.pkg.dev/p/ml/clickpipe:1"})
    with pytest.raises(CompileError, match=r"^kubeflow.pipeline_root = .* placeholder YOUR_BUCKET"):
        check_config(ready_image)
    with pytest.raises(CompileError, match=r"^dataset.source = 'demo-data' in \(built-in"):
        check_config(ready_image.with_overrides(kubeflow={"pipeline_root": "gs://b/root"}))


def test_empty_image_is_refused(config):
    with pytest.raises(CompileError, match="kubeflow.image is empty"):
        check_config(config.with_overrides(kubeflow={"image": ""}))


def test_spec_goes_to_the_compile_dir_named_after_the_pipeline(config):
    assert str(default_output(config)) == "build/kubeflow/clickpipe.yaml"


def test_the_built_in_placeholders_are_refused_by_key():
    with pytest.raises(CompileError) as error:
        check_config(load_config())

    assert str(error.value) == (
        "kubeflow.image = 'gcr.io/YOUR_PROJECT/clickpipe:0.1.0' in (built-in default.toml) still holds the "
        "placeholder YOUR_PROJECT; replace it with your own project"
    )


def test_a_placeholder_bucket_is_refused_even_when_local_paths_are_allowed(config):
    placeholder = config.with_overrides(kubeflow={"pipeline_root": "gs://YOUR_BUCKET/clickpipe/pipeline-root"})

    with pytest.raises(CompileError, match=r"^kubeflow.pipeline_root = .* placeholder YOUR_BUCKET; replace it"):
        check_config(placeholder, require_buckets=False)
