"""Data validation settings resolved from the config: schema file, store, drift and skew limits.

Pure helpers shared by the pipeline factory, the validation gate and `clickpipe monitor`:
which TFDV comparator each feature gets (L-infinity for categorical and text features and the
label, approximate Jensen-Shannon divergence for numeric ones) and with which threshold.
"""

from __future__ import annotations

from importlib import resources

from components.validate.comparators import JENSEN_SHANNON, L_INFINITY, Comparator
from pipeline.config import ClickpipeConfig
from trainer.features import Kind

SCHEMA_RESOURCE = "schema/schema.pbtxt"
# Where kubeflow/Dockerfile copies the `pipeline` package, relative to the image's WORKDIR, where
# every task's container command starts (KFP sets no working directory of its own).
IMAGE_PIPELINE_DIR = "pipeline"


def schema_file(config: ClickpipeConfig, pipeline_dir: str | None = None) -> str:
    """The curated schema to import: `validation.schema_file`, else the one shipped here.

    Args:
        config: the project config.
        pipeline_dir: where the `pipeline` package is at run time when that differs from this
            process (e.g. `IMAGE_PIPELINE_DIR` for Kubeflow); default: this installation.
    """
    if config.validation.schema_file:
        return config.validation.schema_file
    if pipeline_dir:
        return f"{pipeline_dir.rstrip('/')}/{SCHEMA_RESOURCE}"
    return str(resources.files("pipeline").joinpath(SCHEMA_RESOURCE))


def store_root(config: ClickpipeConfig, pipeline_root: str) -> str:
    """Where validated statistics and validation reports live (local folder or gs://)."""
    return config.validation.store or f"{pipeline_root.rstrip('/')}/validation"


def _comparators(config: ClickpipeConfig, overrides: dict[str, float]) -> dict[str, Comparator]:
    settings = config.validation
    comparators = {}
    for feature in config.registry().features:
        if feature.kind is Kind.IMAGE:
            continue
        if feature.kind is Kind.NUMERIC:
            kind, default = JENSEN_SHANNON, settings.numeric_drift
        else:
            kind, default = L_INFINITY, settings.categorical_drift
        comparators[feature.name] = Comparator(feature.name, kind, overrides.get(feature.name, default))
    label = config.dataset.label
    comparators[label] = Comparator(label, L_INFINITY, overrides.get(label, settings.label_drift))
    return comparators


def drift_comparators(config: ClickpipeConfig) -> dict[str, Comparator]:
    """Per feature, the comparator of this span against the previous one."""
    return _comparators(config, config.validation.drift_thresholds)


def skew_comparators(config: ClickpipeConfig) -> dict[str, Comparator]:
    """Per feature, the comparator of serving requests against the training span.

    The label is not in serving requests, so it has none.
    """
    overrides = {**config.validation.drift_thresholds, **config.validation.skew_thresholds}
    comparators = _comparators(config, overrides)
    comparators.pop(config.dataset.label)
    return comparators
