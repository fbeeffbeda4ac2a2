"""Fixtures of the CLI tests: the serving tests' stand-in model."""

import pytest

from tests.serving import models


@pytest.fixture(scope="session")
def conformance_base(tmp_path_factory):
    """The conformance model of tests/serving: versions 1 and 2."""
    return models.build_model(tmp_path_factory.mktemp("conformance") / models.MODEL_NAME)
