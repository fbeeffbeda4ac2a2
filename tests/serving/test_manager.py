"""Version discovery, version policy, safe swaps, failed loads and labels (ModelManager)."""

from __future__ import annotations

import os
import shutil

import grpc
import pytest
from tensorflow_serving.config import model_server_config_pb2

from serving.errors import ServingError
from serving.manager import ManagerOptions, ModelManager, State, aspired_versions
from serving.server_config import ServingConfigError, parse_model_server_config
from tests.serving import models

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def templates(tmp_path_factory):
    """Built once: version folders 1 and 2 to copy into each test's base path."""
    return models.build_model(tmp_path_factory.mktemp("templates") / "m")


def push(templates, base, version: int, source: int | None = None) -> None:
    """Copies a template version into `base/version`, saved_model.pb last (the Pusher's order)."""
    target = base / str(version)
    shutil.copytree(
        templates / str(source or version), target, ignore=shutil.ignore_patterns("saved_model.pb")
    )
    shutil.copy(templates / str(source or version) / "saved_model.pb", target / "saved_model.pb")


def config(base, policy: str = "", labels: dict | None = None, name: str = "m"):
    label_text = "".join(
        f'version_labels {{ key: "{k}" value: {v} }} ' for k, v in (labels or {}).items()
    )
    return parse_model_server_config(
        f'model_config_list {{ config {{ name: "{name}" base_path: "{base}" '
        'model_platform: "tensorflow" '
        f"{policy} {label_text} }} }}"
    )


def states(manager: ModelManager, name: str = "m") -> dict[int, State]:
    return {status.version: status.state for status in manager.status(name)}


@pytest.fixture()
def manager_for():
    managers = []

    def make(model_config, **options) -> ModelManager:
        manager = ModelManager(model_config, ManagerOptions(**options))
        managers.append(manager)
        manager.start()
        return manager

    yield make
    for manager in managers:
        manager.stop()


def test_aspired_versions_follow_the_policy():
    policy = model_server_config_pb2.ModelConfig().model_version_policy
    assert aspired_versions(policy, [3, 1, 2]) == {3}
    policy.latest.num_versions = 2
    assert aspired_versions(policy, [3, 1, 2]) == {2, 3}
    policy.all.SetInParent()
    assert aspired_versions(policy, [3, 1, 2]) == {1, 2, 3}
    policy.specific.versions.extend([1, 5])
    assert aspired_versions(policy, [3, 1, 2]) == {1}
    assert aspired_versions(policy, []) == set()


def test_latest_policy_loads_the_new_version_then_unloads_the_old(templates, tmp_path, manager_for):
    push(templates, tmp_path, 1)
    manager = manager_for(config(tmp_path))
    assert states(manager) == {1: State.AVAILABLE}
    assert manager.resolve("m").version == 1
    push(templates, tmp_path, 2)
    manager.poll_once()
    assert states(manager) == {2: State.AVAILABLE, 1: State.END}
    assert manager.resolve("m").version == 2
    with pytest.raises(ServingError) as caught:
        manager.resolve("m", version=1)
    assert caught.value.code == grpc.StatusCode.NOT_FOUND
    assert caught.value.message == "Servable not found for request: Specific(m, 1)"


def test_a_version_folder_without_saved_model_pb_is_not_loaded(templates, tmp_path, manager_for):
    push(templates, tmp_path, 1)
    shutil.copytree(templates / "2" / "variables", tmp_path / "2" / "variables")
    (tmp_path / "not-a-version").mkdir()
    manager = manager_for(config(tmp_path))
    assert states(manager) == {1: State.AVAILABLE}
    shutil.copy(templates / "2" / "saved_model.pb", tmp_path / "2" / "saved_model.pb")
    manager.poll_once()
    assert manager.resolve("m").version == 2


def test_a_corrupt_version_is_reported_and_the_previous_one_keeps_serving(
    templates, tmp_path, manager_for
):
    push(templates, tmp_path, 1)
    manager = manager_for(config(tmp_path), max_num_load_retries=0)
    (tmp_path / "2").mkdir()
    (tmp_path / "2" / "saved_model.pb").write_bytes(b"this is not a SavedModel")
    manager.poll_once()
    [failed] = manager.status("m", 2)
    assert failed.state == State.END
    assert failed.error.code == grpc.StatusCode.DATA_LOSS
    assert "Can't parse" in failed.error.message
    assert states(manager)[1] == State.AVAILABLE
    assert manager.resolve("m").version == 1
    manager.poll_once()  # unchanged files are not retried
    assert manager.status("m", 2)[0].error is not None
    shutil.rmtree(tmp_path / "2")
    push(templates, tmp_path, 2)
    manager.poll_once()
    assert states(manager) == {2: State.AVAILABLE, 1: State.END}
    assert manager.status("m", 2)[0].error is None


def test_deleting_the_served_version_falls_back_to_the_previous_one(
    templates, tmp_path, manager_for
):
    push(templates, tmp_path, 1)
    push(templates, tmp_path, 2)
    manager = manager_for(config(tmp_path))
    assert states(manager) == {2: State.AVAILABLE}
    shutil.rmtree(tmp_path / "2")
    manager.poll_once()
    assert states(manager) == {2: State.END, 1: State.AVAILABLE}
    assert manager.resolve("m").version == 1


def test_specific_and_latest_n_policies(templates, tmp_path, manager_for):
    for version in (1, 2):
        push(templates, tmp_path, version)
    push(templates, tmp_path, 3, source=2)
    specific = manager_for(
        config(tmp_path, "model_version_policy { specific { versions: 1 versions: 3 } }")
    )
    assert states(specific) == {3: State.AVAILABLE, 1: State.AVAILABLE}
    latest_two = manager_for(
        config(tmp_path, "model_version_policy { latest { num_versions: 2 } }")
    )
    assert states(latest_two) == {3: State.AVAILABLE, 2: State.AVAILABLE}


def test_labels_name_versions(templates, tmp_path, manager_for):
    push(templates, tmp_path, 1)
    push(templates, tmp_path, 2)
    manager = manager_for(
        config(tmp_path, "model_version_policy { all {} }", {"stable": 1, "canary": 2})
    )
    assert manager.resolve("m", label="stable").version == 1
    assert manager.resolve("m", label="canary").version == 2
    with pytest.raises(ServingError) as caught:
        manager.resolve("m", label="nope")
    assert (caught.value.code, caught.value.message) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "Unrecognized servable version label: nope",
    )


def test_a_label_on_an_unavailable_version_is_refused(templates, tmp_path, manager_for):
    push(templates, tmp_path, 1)
    manager = manager_for(config(tmp_path, "", {"stable": 1}))
    with pytest.raises(ServingError) as caught:
        manager.reload_config(config(tmp_path, "", {"stable": 7}))
    assert caught.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert "Request to assign label to version 7 of model m" in caught.value.message
    assert manager.resolve("m", label="stable").version == 1
    permissive = manager_for(
        config(tmp_path, "", {"later": 7}), allow_version_labels_for_unavailable_models=True
    )
    with pytest.raises(ServingError, match=r"Specific\(m, 7\)"):
        permissive.resolve("m", label="later")


def test_a_label_on_a_missing_version_stops_the_start(templates, tmp_path):
    push(templates, tmp_path, 1)
    manager = ModelManager(config(tmp_path, "", {"stable": 3}))
    with pytest.raises(ServingError, match="version 3 of model m"):
        manager.start()
    manager.stop()


def test_reload_config_adds_and_removes_models(templates, tmp_path, manager_for):
    first, second = tmp_path / "first", tmp_path / "second"
    push(templates, first, 1)
    push(templates, second, 2)
    manager = manager_for(config(first, name="first"))
    both = config(first, name="first")
    both.model_config_list.config.add().CopyFrom(
        config(second, name="second").model_config_list.config[0]
    )
    manager.reload_config(both)
    assert manager.model_names() == ["first", "second"]
    assert manager.resolve("second").version == 2
    manager.reload_config(config(second, name="second"))
    assert manager.model_names() == ["second"]
    with pytest.raises(ServingError, match=r"Latest\(first\)"):
        manager.resolve("first")
    with pytest.raises(ServingConfigError, match="duplicate model names second"):
        twice = config(second, name="second")
        twice.model_config_list.config.add().CopyFrom(twice.model_config_list.config[0])
        manager.reload_config(twice)
    assert manager.model_names() == ["second"]


def test_a_missing_base_path_serves_nothing_until_it_appears(templates, tmp_path, manager_for):
    manager = manager_for(config(tmp_path / "later"))
    with pytest.raises(ServingError, match="Could not find any versions of model m"):
        manager.status("m")
    push(templates, tmp_path / "later", 1)
    manager.poll_once()
    assert manager.resolve("m").version == 1


@pytest.fixture(scope="module")
def needs_variables(tmp_path_factory):
    """A version that cannot load without its variables folder (unlike the templates)."""
    return models.build_weighty_version(tmp_path_factory.mktemp("variables") / "1", megabytes=1)


def saved_model_pb_only(template, target) -> None:
    """The start of `cp -r`: saved_model.pb lands before the variables it needs."""
    target.mkdir(parents=True)
    shutil.copy(template / "saved_model.pb", target / "saved_model.pb")


def test_a_version_copied_saved_model_pb_first_loads_once_complete(
    needs_variables, tmp_path, manager_for
):
    manager = manager_for(config(tmp_path), load_retry_interval_micros=0)
    saved_model_pb_only(needs_variables, tmp_path / "1")
    manager.poll_once()
    [retrying] = manager.status("m")
    # As TF Serving: LOADING while retries are left, without an error yet.
    assert (retrying.state, retrying.load_attempts, retrying.error) == (State.LOADING, 1, None)
    shutil.copytree(needs_variables / "variables", tmp_path / "1" / "variables")
    manager.poll_once()
    assert states(manager) == {1: State.AVAILABLE}
    assert manager.resolve("m").version == 1


def test_load_retries_are_bounded_then_wait_for_new_files(needs_variables, tmp_path, manager_for):
    saved_model_pb_only(needs_variables, tmp_path / "1")
    manager = manager_for(config(tmp_path), max_num_load_retries=2, load_retry_interval_micros=-1)
    for attempts in (1, 2):  # start() made the first attempt
        assert manager.status("m")[0].load_attempts == attempts
        assert manager.status("m")[0].state == State.LOADING
        manager.poll_once()
    [failed] = manager.status("m")
    assert (failed.state, failed.load_attempts) == (State.END, 3)
    assert failed.error.code == grpc.StatusCode.UNKNOWN
    assert "variables" in failed.error.message
    shutil.copytree(needs_variables / "variables", tmp_path / "1" / "variables")
    manager.poll_once()  # no retries left, and saved_model.pb has not changed
    assert manager.status("m")[0].state == State.END
    saved_model = tmp_path / "1" / "saved_model.pb"
    os.utime(saved_model, ns=(saved_model.stat().st_atime_ns, saved_model.stat().st_mtime_ns + 10**9))
    manager.poll_once()
    assert states(manager) == {1: State.AVAILABLE}


def test_load_retries_wait_for_the_interval(needs_variables, tmp_path, manager_for):
    saved_model_pb_only(needs_variables, tmp_path / "1")
    manager = manager_for(config(tmp_path), load_retry_interval_micros=3600 * 10**6)
    shutil.copytree(needs_variables / "variables", tmp_path / "1" / "variables")
    manager.poll_once()
    [waiting] = manager.status("m")
    assert (waiting.state, waiting.load_attempts) == (State.LOADING, 1)
