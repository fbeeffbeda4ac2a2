"""PushModel ships the infra blessing's warmup records inside the version, saved_model.pb last.

Unit tests: the model is plain files (the push copies files, it does not read them).
"""

from __future__ import annotations

from pathlib import Path

from components import artifacts
from tests.components.push.helpers import push, record_copies
from tests.components.validate_serving import fixtures as fx

WARMUP = Path("assets.extra") / "tf_serving_warmup_requests"


def fake_model(uri: Path) -> Path:
    serving = uri / "Format-Serving"
    (serving / "variables").mkdir(parents=True)
    (serving / "variables" / "variables.index").write_bytes(b"index")
    (serving / "fingerprint.pb").write_bytes(b"fp")
    (serving / "saved_model.pb").write_bytes(b"graph")
    return uri


def infra_blessing(uri: Path, blessed: int, warmup: bytes | None):
    blessing = fx.blessing_artifact(uri)
    blessing.set_int_custom_property(artifacts.BLESSED, blessed)
    uri.mkdir(parents=True)
    if warmup is not None:
        (uri / WARMUP).parent.mkdir(parents=True)
        (uri / WARMUP).write_bytes(warmup)
    return blessing


def only_version(base: Path) -> Path:
    (version,) = base.iterdir()
    return version


def test_warmup_records_land_before_saved_model(tmp_path, monkeypatch):
    copies = record_copies(monkeypatch)
    blessing = infra_blessing(tmp_path / "infra", 1, b"records")

    pushed = push(fake_model(tmp_path / "model"), tmp_path / "base", blessing)

    version = only_version(tmp_path / "base")
    assert pushed.get_int_custom_property("pushed") == 1
    assert (version / WARMUP).read_bytes() == b"records"
    names = [Path(c).relative_to(version).as_posix() for c in copies]
    assert names[-1] == "saved_model.pb"
    assert WARMUP.as_posix() in names[:-1]
    assert names.count("saved_model.pb") == 1


def test_blessing_records_replace_the_models_own(tmp_path):
    model = fake_model(tmp_path / "model")
    (model / "Format-Serving" / WARMUP).parent.mkdir()
    (model / "Format-Serving" / WARMUP).write_bytes(b"stale")
    blessing = infra_blessing(tmp_path / "infra", 1, b"fresh")

    push(model, tmp_path / "base", blessing)

    assert (only_version(tmp_path / "base") / WARMUP).read_bytes() == b"fresh"


def test_without_records_the_push_carries_none(tmp_path):
    push(fake_model(tmp_path / "model"), tmp_path / "base", infra_blessing(tmp_path / "i", 1, None))

    version = only_version(tmp_path / "base")
    assert (version / "saved_model.pb").read_bytes() == b"graph"
    assert not (version / WARMUP).exists()


def test_not_infra_blessed_pushes_nothing(tmp_path):
    pushed = push(fake_model(tmp_path / "model"), tmp_path / "base",
                  infra_blessing(tmp_path / "infra", 0, b"records"))

    assert pushed.get_int_custom_property("pushed") == 0
    assert not (tmp_path / "base").exists()
