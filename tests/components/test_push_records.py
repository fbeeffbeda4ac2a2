"""Pushed-model records: which version is in production, and rollbacks TF Serving picks up."""

import json

import pytest

from components import push_records


def push(base, version, span="2026-09", blessed=True, complete=True, record=True, payload=b"weights"):
    """A fake pushed version: the files TF Serving reads, and our record beside them."""
    folder = base / str(version)
    (folder / "variables").mkdir(parents=True)
    (folder / "variables" / "variables.data-00000-of-00001").write_bytes(payload)
    if record:
        push_records.write_record(
            str(folder),
            push_records.PushRecord(
                version=version,
                span=span,
                run_id=f"run-{version}",
                pushed_at="2026-10-02T06:00:00Z",
                blessed=blessed,
                metrics={"auc": 0.7, "binary_crossentropy": 0.4},
            ),
        )
    if complete:
        (folder / "saved_model.pb").write_bytes(b"graph-" + payload)
    return folder


def test_no_base_path_means_no_model_in_production(tmp_path):
    assert push_records.latest_pushed(str(tmp_path / "missing")) is None
    assert push_records.pushed_versions(str(tmp_path / "missing")) == []
    assert push_records.fingerprint(str(tmp_path / "missing")) == "none"


def test_highest_complete_numeric_version_is_in_production(tmp_path):
    push(tmp_path, 100, span="2026-08")
    push(tmp_path, 300, span="2026-10", complete=False)  # still being written
    push(tmp_path, 200, span="2026-09")
    (tmp_path / "not-a-version").mkdir()

    latest = push_records.latest_pushed(str(tmp_path))

    assert latest.version == 200
    assert latest.span == "2026-09"
    assert latest.run_id == "run-200"
    assert latest.metrics["auc"] == 0.7
    assert latest.path == str(tmp_path / "200")
    assert [r.version for r in push_records.pushed_versions(str(tmp_path))] == [100, 200]


def test_version_without_record_still_counts(tmp_path):
    push(tmp_path, 5, record=False)

    latest = push_records.latest_pushed(str(tmp_path))

    assert latest.version == 5
    assert latest.span == ""


def test_record_round_trip_ignores_unknown_keys():
    record = push_records.PushRecord(version=7, span="2026-10", metrics={"auc": 0.8}, rollback_of=3)
    data = json.loads(record.to_json())
    assert data["schema"] == push_records.SCHEMA_VERSION
    assert "path" not in data

    data["written_by_a_newer_pusher"] = True
    parsed = push_records.PushRecord.from_json(json.dumps(data), path="/p")

    assert parsed == record
    assert parsed.path == "/p"


def test_unreadable_record_names_the_file(tmp_path):
    folder = push(tmp_path, 9)
    (folder / push_records.RECORD_PATH).write_text("{not json")

    with pytest.raises(push_records.RecordError, match="clickpipe_push.json"):
        push_records.latest_pushed(str(tmp_path))


def test_rollback_repushes_old_files_as_new_highest_version(tmp_path):
    push(tmp_path, 100, span="2026-08", payload=b"old")
    push(tmp_path, 200, span="2026-09", payload=b"new")

    record = push_records.rollback(str(tmp_path), 100, run_id="cli:test")

    assert record.version > 200
    assert record.rollback_of == 100
    assert record.span == "2026-08"
    assert record.run_id == "cli:test"
    served = push_records.latest_pushed(str(tmp_path))
    assert served.version == record.version
    assert served.rollback_of == 100
    new = tmp_path / str(record.version)
    assert (new / "saved_model.pb").read_bytes() == b"graph-old"
    assert (new / "variables" / "variables.data-00000-of-00001").read_bytes() == b"old"
    assert push_records.fingerprint(str(tmp_path)).startswith(f"{record.version}@")


def test_rollback_writes_saved_model_last(tmp_path, monkeypatch):
    from tfx.dsl.io import fileio

    push(tmp_path, 100)
    push(tmp_path, 200)
    copied = []
    real_copy = fileio.copy

    def recording_copy(source, target, overwrite=False):
        copied.append(target)
        real_copy(source, target, overwrite=overwrite)

    monkeypatch.setattr(fileio, "copy", recording_copy)

    push_records.rollback(str(tmp_path), 100)

    assert copied[-1].endswith("/saved_model.pb")
    assert len(copied) == 2


@pytest.mark.parametrize(
    ("version", "message"),
    [(150, "no complete pushed version 150"), (200, "already the served version")],
)
def test_rollback_refuses_missing_or_served_versions(tmp_path, version, message):
    push(tmp_path, 100)
    push(tmp_path, 200)

    with pytest.raises(push_records.RecordError, match=message):
        push_records.rollback(str(tmp_path), version)
    assert [r.version for r in push_records.pushed_versions(str(tmp_path))] == [100, 200]


def test_rollback_to_the_version_already_rolled_back_to_is_refused(tmp_path):
    push(tmp_path, 100)
    push(tmp_path, 200)
    first = push_records.rollback(str(tmp_path), 100)

    with pytest.raises(push_records.RecordError, match=f"already served, as version {first.version}"):
        push_records.rollback(str(tmp_path), 100)


def test_next_version_is_above_every_existing_one(tmp_path):
    push(tmp_path, 99_999_999_999)

    assert push_records.next_version(str(tmp_path)) == 100_000_000_000
