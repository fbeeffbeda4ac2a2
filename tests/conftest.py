"""Test tiers: every test is `unit` unless marked `integration` or `e2e`."""

import os

import pytest

TIERS = ("unit", "integration", "e2e")


def pytest_configure(config):
    # Model code trains and loads tf_keras models, as TFX 1.16 requires.
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if not any(item.get_closest_marker(tier) for tier in TIERS):
            item.add_marker(pytest.mark.unit)


@pytest.fixture(scope="session", autouse=True)
def _run_in_a_scratch_folder(tmp_path_factory):
    """Tests start in an empty folder (before any module fixture), so commands' relative defaults
    (the pipeline home and its logs, `build/`, `demo-data`) land there, never in the repository."""
    previous = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("cwd"))
    yield
    os.chdir(previous)
