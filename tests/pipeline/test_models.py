"""`clickpipe models list|rollback` and `clickpipe report`, through the real CLI frame."""

import pytest

from components import push_records
from pipeline import cli, models
from tests.components.test_push_records import push
from tests.pipeline import evaluation_fixtures as fx


@pytest.fixture
def clickpipe():
    """The real `clickpipe` entry point."""
    return cli.main


def test_help_for_every_command(clickpipe, capsys):
    for argv in (
        ["models", "--help"],
        ["models", "list", "--help"],
        ["models", "rollback", "--help"],
        ["report", "--help"],
    ):
        with pytest.raises(SystemExit) as exit_info:
            clickpipe(argv)
        assert exit_info.value.code == 0
    assert "--candidate" in capsys.readouterr().out


def test_models_list_shows_versions_newest_first_with_the_served_one_marked(clickpipe, tmp_path, capsys):
    push(tmp_path, 100, span="2026-08")
    push(tmp_path, 200, span="2026-09")

    code = clickpipe(["models", "list", "--model-base-path", str(tmp_path)])

    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert lines[0].split() == ["version", "span", "run", "pushed", "at", "blessed", "AUC", "log-loss", "note"]
    assert lines[1].split()[:4] == ["*", "200", "2026-09", "run-200"]
    assert lines[1].split()[-2:] == ["0.7000", "0.4000"]
    assert lines[2].split()[:3] == ["100", "2026-08", "run-100"]
    assert lines[-1].startswith("* served by TF Serving")


def test_models_list_without_pushes(clickpipe, tmp_path, capsys):
    code = clickpipe(["models", "list", "--model-base-path", str(tmp_path / "none")])

    assert code == 0
    assert capsys.readouterr().out.strip() == f"no pushed models under {tmp_path / 'none'}"


def test_rollback_then_list_shows_the_rollback(clickpipe, tmp_path, capsys):
    push(tmp_path, 100, span="2026-08")
    push(tmp_path, 200, span="2026-09")

    code = clickpipe(["models", "rollback", "100", "--model-base-path", str(tmp_path)])

    served = push_records.latest_pushed(str(tmp_path))
    assert code == 0
    assert served.rollback_of == 100
    assert f"version 100 is served again as version {served.version}" in capsys.readouterr().out
    clickpipe(["models", "list", "--model-base-path", str(tmp_path)])
    first = capsys.readouterr().out.splitlines()[1]
    assert first.startswith(f"*  {served.version}") and first.endswith("rollback of 100")


def test_rollback_of_unknown_version_is_one_clear_line(clickpipe, tmp_path, capsys):
    push(tmp_path, 100)

    code = clickpipe(["models", "rollback", "42", "--model-base-path", str(tmp_path)])

    err = capsys.readouterr().err
    assert code == 1
    assert err.strip() == f"clickpipe: no complete pushed version 42 under {tmp_path} (versions: 100)"
    assert "Traceback" not in err


def test_resolve_model_accepts_versions_savedmodels_and_model_artifacts(tmp_path):
    push(tmp_path / "serving", 100)
    artifact = tmp_path / "artifact" / "Format-Serving"
    artifact.mkdir(parents=True)
    (artifact / "saved_model.pb").write_bytes(b"x")

    assert models.resolve_model("100", str(tmp_path / "serving")) == str(tmp_path / "serving" / "100")
    assert models.resolve_model(str(tmp_path / "serving" / "100"), "") == str(tmp_path / "serving" / "100")
    assert models.resolve_model(str(tmp_path / "artifact"), "") == str(artifact)
    with pytest.raises(models.ModelsError, match="no SavedModel at"):
        models.resolve_model(str(tmp_path), "")
    with pytest.raises(models.ModelsError, match="no complete pushed version 7"):
        models.resolve_model("7", str(tmp_path / "serving"))


def make_metadata(path, examples_by_months, state="LIVE"):
    """Examples artifacts as TFX records them: LIVE once published, PENDING while being written."""
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = str(path)
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    store = metadata_store.MetadataStore(config)
    type_id = store.put_artifact_type(metadata_store_pb2.ArtifactType(name="Examples"))
    for months, uri in examples_by_months:
        artifact = metadata_store_pb2.Artifact(
            type_id=type_id, uri=uri, state=metadata_store_pb2.Artifact.State.Value(state)
        )
        artifact.custom_properties["span_months"].string_value = months
        store.put_artifacts([artifact])


def test_resolve_data_skips_examples_a_killed_run_left_half_written(tmp_path):
    make_metadata(tmp_path / "m.sqlite", [("2026-10", "/a/published")])
    make_metadata(tmp_path / "m.sqlite", [("2026-10", "/a/killed-while-writing")], state="PENDING")

    assert models.resolve_data("2026-10", str(tmp_path / "m.sqlite")).pattern == "/a/published/Split-eval/*"


def test_resolve_data_finds_the_newest_examples_of_a_span(tmp_path):
    make_metadata(
        tmp_path / "m.sqlite",
        [("2026-09", "/a/old"), ("2026-09,2026-10", "/a/first"), ("2026-10", "/a/newest"), ("2026-11", "/a/later")],
    )

    data = models.resolve_data("2026-10", str(tmp_path / "m.sqlite"))

    assert data == models.EvalData("/a/newest/Split-eval/*", span="2026-10")
    with pytest.raises(models.ModelsError, match="span 2026-12 was never ingested"):
        models.resolve_data("2026-12", str(tmp_path / "m.sqlite"))
    with pytest.raises(models.ModelsError, match="no ML Metadata at"):
        models.resolve_data("2026-10", str(tmp_path / "missing.sqlite"))


def test_resolve_data_accepts_folders_and_patterns(tmp_path):
    split = tmp_path / "examples" / "Split-eval"
    split.mkdir(parents=True)
    (split / "data.gz").write_bytes(b"")

    assert models.resolve_data(str(tmp_path / "examples"), "").pattern == f"{split}/*"
    assert models.resolve_data(str(split), "").pattern == f"{split}/*"
    assert models.resolve_data(f"{split}/*.gz", "").pattern == f"{split}/*.gz"
    with pytest.raises(models.ModelsError, match="no examples match"):
        models.resolve_data(str(tmp_path / "nothing"), "")


def test_report_names_a_missing_model(clickpipe, tmp_path, capsys):
    code = clickpipe(
        ["report", "--candidate", str(tmp_path / "nope"), "--data", str(tmp_path), "--home", str(tmp_path)]
    )

    assert code == 1
    assert capsys.readouterr().err.strip().startswith(f"clickpipe: no SavedModel at {tmp_path / 'nope'}")


@pytest.mark.integration
def test_report_compares_a_candidate_with_the_model_in_production(clickpipe, tmp_path, capfd):
    examples = fx.write_examples(tmp_path / "examples" / "Split-eval", rows=400)
    serving = tmp_path / "serving"
    fx.save_model(serving / "100", **fx.BROKEN_FEATURE)
    candidate = fx.save_model(tmp_path / "candidate", **fx.GOOD)

    code = clickpipe(
        [
            "report",
            "--candidate",
            str(candidate),
            "--data",
            str(examples.parent),
            "--model-base-path",
            str(serving),
            "--output",
            str(tmp_path / "out"),
            "--home",
            str(tmp_path / "home"),
        ]
    )

    out = capfd.readouterr().out
    assert code == 0
    assert f"against {serving / '100'}" in out
    assert "  verdict  blessed against the model in production" in out
    assert (tmp_path / "home" / "logs").is_dir()
    page = (tmp_path / "out" / "report.html").read_text()
    assert "BLESSED" in page and "NOT BLESSED" not in page
    assert str(serving / "100") in page
