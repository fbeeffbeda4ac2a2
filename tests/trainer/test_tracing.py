"""Keras' own functions are traced as written; clickpipe's layers still go through AutoGraph."""

from __future__ import annotations

import pytest
import tf_keras
from tensorflow.python.autograph.core import config
from tensorflow.python.autograph.impl import conversion

from trainer import model, tracing

pytestmark = pytest.mark.unit


@pytest.fixture
def rules():
    """TensorFlow's own list for the test (an earlier training in this session may have added
    the rule), the session's list afterwards."""
    saved = config.CONVERSION_RULES
    config.CONVERSION_RULES = tuple(rule for rule in saved if not rule.matches(tracing.MODULE))
    yield
    config.CONVERSION_RULES = saved


def test_keras_training_code_is_left_to_tracing_and_ours_is_not(rules):
    train_step = tf_keras.Model.train_step
    assert not conversion.is_allowlisted(train_step)

    tracing.leave_keras_to_tracing()

    assert conversion.is_allowlisted(train_step)
    assert conversion.is_allowlisted(tf_keras.layers.Dense.call)
    assert not conversion.is_allowlisted(model.IdDropout.call)


def test_the_rule_is_added_once(rules):
    tracing.leave_keras_to_tracing()
    tracing.leave_keras_to_tracing()

    assert sum(rule.matches(tracing.MODULE) for rule in config.CONVERSION_RULES) == 1
