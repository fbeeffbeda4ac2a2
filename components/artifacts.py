"""The names stages hand each other on artifacts, defined once.

Every property and custom property one stage writes and another stage (or `pipeline/`, the
report, ML Metadata's readers) reads is named here, as TFX keeps its own in
`tfx/components/evaluator/constants.py` for the Pusher. Writers and readers use these names,
never a bare string, so a rename is one edit and a typo fails at import time
(tests/test_layers.py checks that no get/set/has call spells one of them out).
"""

from __future__ import annotations

# --- Examples and QuarantinedRows (IngestImpressions) -------------------------------------
# TFX's own Examples property: the span number YYYYMM (see components/spans.py). The production
# model (FindProductionModel) carries its span under the same name, as a month.
SPAN = "span"
# The months of the window the examples were read from, "2026-09,2026-10".
SPAN_MONTHS = "span_months"
# Read by TFX's own components (StatisticsGen, Transform) to decode the examples.
FILE_FORMAT = "file_format"
PAYLOAD_FORMAT = "payload_format"
# A fingerprint of the source objects read, so a re-run over the same data is a cache hit.
INPUT_FINGERPRINT = "input_fingerprint"
ROWS_READ = "rows_read"
ROWS_WRITTEN = "rows_written"
ROWS_QUARANTINED = "rows_quarantined"
ROWS_OTHER_MONTHS = "rows_other_months"
# The folder of the Examples artifact that stores each distinct creative's model input once
# (gzipped TFRecords of `trainer.thumbnail_table.record`), which training rows name by key;
# see `creatives_pattern`.
CREATIVES_FOLDER = "Creatives"
THUMBNAILS_FILE = "thumbnails"
# Per split and per rejection reason, built by `split_rows` and `quarantined_rows`.
_SPLIT_ROWS = "rows_{split}"
_QUARANTINED_ROWS = "quarantined_{reason}"

# --- ExampleAnomalies (ValidateImpressions) -----------------------------------------------
PROBLEMS = "problems"
COMPARED_WITH = "compared_with"
REPORT = "report"

# --- Model (FindProductionModel): the model now in production -----------------------------
FOUND = "found"
PRODUCTION_VERSION = "production_version"
RUN_ID = "run_id"
PUSHED_AT = "pushed_at"
SOURCE_PATH = "source_path"
ROLLBACK_OF = "rollback_of"

# --- ModelBlessing (EvaluateModel) and InfraBlessing (ValidateServing) ---------------------
# 1 when the model may go on; TFX's Pusher reads the same name.
BLESSED = "blessed"
CURRENT_MODEL = "current_model"
CURRENT_MODEL_ID = "current_model_id"
BASELINE_MODEL = "baseline_model"
BASELINE_MODEL_ID = "baseline_model_id"
BLESSING_MESSAGE = "blessing_message"
BLESSING_REASON = "blessing_reason"
# The version already serving this very candidate: blessed, but nothing to push again.
ALREADY_PUSHED_VERSION = "already_pushed_version"

# --- PushedModel (PushModel) --------------------------------------------------------------
PUSHED = "pushed"
PUSHED_DESTINATION = "pushed_destination"
PUSHED_VERSION = "pushed_version"

# --- ComparisonReport (CompareModels) -----------------------------------------------------
FAILURES = "failures"
REPORT_HTML = "report_html"


def creatives_pattern(examples_uri: str) -> str:
    """The files of an Examples artifact's stored creatives (`CREATIVES_FOLDER`)."""
    return f"{examples_uri.rstrip('/')}/{CREATIVES_FOLDER}/{THUMBNAILS_FILE}-*"


def split_rows(split: str) -> str:
    """The Examples property counting the rows written to `split`."""
    return _SPLIT_ROWS.format(split=split)


def quarantined_rows(reason: str) -> str:
    """The Examples/QuarantinedRows property counting the rows rejected for `reason`."""
    return _QUARANTINED_ROWS.format(reason=reason)


def quarantined_reason(name: str) -> str | None:
    """The rejection reason a `quarantined_rows` property counts; None for another property."""
    prefix = _QUARANTINED_ROWS.removesuffix("{reason}")
    return name.removeprefix(prefix) if name.startswith(prefix) else None


# Every name above, for tests/test_layers.py.
NAMES = frozenset(
    value for name, value in dict(globals()).items() if name.isupper() and not name.startswith("_")
)
