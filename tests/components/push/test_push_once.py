"""A model is pushed once: re-runs and retries after a failure never leave two versions of it.

Unit tests on plain files: the push copies and hashes files, it does not load them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from components import artifacts, push_records
from tests.components.push.helpers import push


def fake_model(uri: Path, graph: bytes = b"graph") -> Path:
    serving = uri / "Format-Serving"
    (serving / "variables").mkdir(parents=True)
    (serving / "variables" / "variables.index").write_bytes(b"index")
    (serving / "saved_model.pb").write_bytes(graph)
    return uri


def test_the_digest_covers_the_model_files_but_not_what_a_push_adds(tmp_path):
    model = fake_model(tmp_path / "m") / "Format-Serving"
    before = push_records.model_digest(str(model))
    (model / "assets.extra").mkdir()
    (model / "assets.extra" / "clickpipe_push.json").write_text("{}")

    assert push_records.model_digest(str(model)) == before
    (model / "variables" / "variables.index").write_bytes(b"other weights")
    assert push_records.model_digest(str(model)) != before


def test_pushing_the_same_model_again_pushes_nothing(tmp_path):
    model, base = fake_model(tmp_path / "model"), tmp_path / "serving"
    first = push(model, base)

    second = push(model, base)

    assert first.get_int_custom_property("pushed") == 1
    assert second.get_int_custom_property("pushed") == 0
    version = int(first.get_string_custom_property("pushed_version"))
    assert second.get_int_custom_property(artifacts.ALREADY_PUSHED_VERSION) == version
    assert [r.version for r in push_records.pushed_versions(str(base))] == [version]


def test_the_same_files_from_another_trainer_artifact_are_the_same_model(tmp_path):
    base = tmp_path / "serving"
    push(fake_model(tmp_path / "run-1"), base)

    again = push(fake_model(tmp_path / "run-2"), base)

    assert again.get_int_custom_property("pushed") == 0


def test_another_model_is_pushed_as_a_new_version(tmp_path):
    base = tmp_path / "serving"
    push(fake_model(tmp_path / "a"), base)

    other = push(fake_model(tmp_path / "b", graph=b"another graph"), base)

    assert other.get_int_custom_property("pushed") == 1
    assert len(push_records.pushed_versions(str(base))) == 2


def test_a_push_that_failed_half_way_is_finished_in_its_own_version(tmp_path):
    model, base = fake_model(tmp_path / "model"), tmp_path / "serving"
    first = push(model, base)
    version = Path(first.get_string_custom_property("pushed_destination"))
    # As if the process died after the record and before saved_model.pb (written last).
    (version / "saved_model.pb").unlink()
    shutil.rmtree(version / "variables")

    retry = push(model, base)

    assert retry.get_string_custom_property("pushed_destination") == str(version)
    assert [p.name for p in base.iterdir()] == [version.name]
    assert (version / "saved_model.pb").read_bytes() == b"graph"
    assert (version / "variables" / "variables.index").is_file()


def test_an_unfinished_version_of_another_model_is_left_alone(tmp_path):
    base = tmp_path / "serving"
    stale = push(fake_model(tmp_path / "a"), base)
    stale_dir = Path(stale.get_string_custom_property("pushed_destination"))
    (stale_dir / "saved_model.pb").unlink()

    other = push(fake_model(tmp_path / "b", graph=b"another graph"), base)

    assert other.get_string_custom_property("pushed_destination") != str(stale_dir)
    assert int(other.get_string_custom_property("pushed_version")) > int(stale_dir.name)


def test_a_record_from_before_digests_is_matched_by_the_trainer_artifact(tmp_path):
    model, base = fake_model(tmp_path / "model"), tmp_path / "serving"
    pushed = Path(push(model, base).get_string_custom_property("pushed_destination"))
    record_file = pushed / push_records.RECORD_PATH
    legacy = {k: v for k, v in json.loads(record_file.read_text()).items() if k != "model_digest"}
    record_file.write_text(json.dumps(legacy))
    # The files changed since (say, re-exported), but the record names this Trainer artifact.
    (model / "Format-Serving" / "saved_model.pb").write_bytes(b"re-exported")

    again = push(model, base)

    assert again.get_int_custom_property("pushed") == 0


def test_a_rollback_keeps_the_digest_of_the_version_it_serves_again(tmp_path):
    base = tmp_path / "serving"
    first = push(fake_model(tmp_path / "a"), base)
    push(fake_model(tmp_path / "b", graph=b"b"), base)

    rolled = push_records.rollback(str(base), int(first.get_string_custom_property("pushed_version")))

    assert rolled.model_digest == push_records.model_digest(str(tmp_path / "a" / "Format-Serving"))
    assert push(fake_model(tmp_path / "a-again"), base).get_int_custom_property("pushed") == 0
