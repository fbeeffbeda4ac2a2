"""Keras' own code traced as written, not rewritten by AutoGraph.

AutoGraph (what `tf.function` uses to turn Python control flow into graph ops) rewrites every
function a traced function calls, except modules on its do-not-convert list. TensorFlow 2.16's
list names ``keras``, but with ``TF_USE_LEGACY_KERAS=1`` (what TFX 1.16 needs) Keras is the
``tf_keras`` package, so each trace of a training, eval or serving function re-parses and
rewrites hundreds of Keras' internal functions. Measured on clickpipe's model: the first
`fit` step 50 s, of which 48 s AutoGraph, and 5.7 s with ``tf_keras`` on the list, which this
adds to 2.16's list (a private module: `tests/trainer/test_tracing.py` fails if it moves).
Keras' code is written to run in graph mode as it is (as it always was under the name
``keras``); clickpipe's own layers are still converted.
"""

from __future__ import annotations

MODULE = "tf_keras"


def leave_keras_to_tracing() -> None:
    """Puts ``tf_keras`` on AutoGraph's do-not-convert list (once; later calls do nothing)."""
    from tensorflow.python.autograph.core import config, config_lib

    if not any(isinstance(rule, config_lib.DoNotConvert) and rule.matches(MODULE)
               for rule in config.CONVERSION_RULES):
        config.CONVERSION_RULES = (config_lib.DoNotConvert(MODULE), *config.CONVERSION_RULES)
