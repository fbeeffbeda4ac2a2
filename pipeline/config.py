"""The typed clickpipe config: one TOML file, validated once at the entry point.

Every section forbids unknown keys, so a typo stops the run with the key and the file named
instead of being silently ignored. Relative paths are taken from the working directory.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated

import tomli
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from components.spans import check_span
from trainer.features import Feature, FeatureRegistry, Kind
from trainer.settings import TrainingSettings

DEFAULT_CONFIG = "default.toml"


class ConfigError(ValueError):
    """A config a user must fix; the message names the file and the key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PipelineSection(_Section):
    name: str = Field("clickpipe", pattern=r"^[a-z][a-z0-9-]{0,62}$")
    home: str = "clickpipe-home"
    enable_cache: bool = True
    beam_args: list[str] = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]

    @property
    def pipeline_root(self) -> str:
        return str(Path(self.home) / "pipeline-root")

    @property
    def metadata_path(self) -> str:
        return str(Path(self.home) / "metadata.sqlite")

    @property
    def logs_dir(self) -> str:
        return str(Path(self.home) / "logs")

    @property
    def reports_dir(self) -> str:
        return str(Path(self.home) / "reports")


class FeatureSection(_Section):
    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    kind: Kind
    hash_buckets: int = Field(0, ge=0)
    vocab_size: int = Field(1000, ge=1)
    oov_buckets: int = Field(1, ge=1)
    source_column: str = ""
    uri_template: str = ""
    default: float = 0.0

    @model_validator(mode="after")
    def _image_needs_source(self) -> FeatureSection:
        if self.kind is Kind.IMAGE and not (self.source_column and self.uri_template):
            raise ValueError("an image feature needs source_column and uri_template")
        return self


class DatasetSection(_Section):
    source: str = "demo-data"
    impressions_pattern: str = "impressions/{span}/*.csv"
    span: str = "latest"
    window: int = Field(1, ge=1, le=36)
    label: str = "clicked"
    example_id: str = "impression_id"
    passthrough: list[str] = ["timestamp"]
    eval_percent: int = Field(20, ge=1, le=90)
    max_quarantined_fraction: float = Field(0.01, ge=0.0, le=1.0)
    features: list[FeatureSection]
    crosses: list[list[str]] = []
    slices: list[list[str]] = []

    @field_validator("span")
    @classmethod
    def _span_form(cls, value: str) -> str:
        return check_span(value)

    @model_validator(mode="after")
    def _names_exist(self) -> DatasetSection:
        names = {f.name for f in self.features}
        if len(names) != len(self.features):
            raise ValueError("feature names must be unique")
        for group in ("crosses", "slices"):
            for keys in getattr(self, group):
                unknown = [k for k in keys if k not in names]
                if unknown:
                    raise ValueError(f"{group} name unknown features: {', '.join(unknown)}")
        return self


# The model code's own defaults (trainer/ cannot import this package, so they live there).
_TRAINING = TrainingSettings()


class TrainingSection(_Section):
    epochs: int = Field(_TRAINING.epochs, ge=1)
    batch_size: int = Field(_TRAINING.batch_size, ge=1)
    learning_rate: float = Field(_TRAINING.learning_rate, gt=0)
    embedding_dim: int = Field(_TRAINING.embedding_dim, ge=1)
    hidden_units: list[int] = list(_TRAINING.hidden_units)
    image_size: int = Field(_TRAINING.image_size, ge=8, le=256)
    text_max_tokens: int = Field(_TRAINING.text_max_tokens, ge=1)
    cross_hash_buckets: int = Field(_TRAINING.cross_hash_buckets, ge=1)
    early_stopping_patience: int = Field(_TRAINING.early_stopping_patience, ge=0)
    seed: int = _TRAINING.seed
    l2: float = Field(_TRAINING.l2, ge=0)
    dropout: float = Field(_TRAINING.dropout, ge=0, lt=1)
    cache_mb: int = Field(_TRAINING.cache_mb, ge=0)


class SliceThreshold(_Section):
    slice: list[str]
    min_auc: float | None = Field(None, ge=0, le=1)
    max_auc_drop: float | None = Field(None, ge=0, le=1)


class EvaluationSection(_Section):
    min_auc: float = Field(0.6, ge=0, le=1)
    max_auc_drop: float = Field(0.002, ge=0, le=1)
    max_log_loss_increase: float = Field(0.01, ge=0)
    slice_thresholds: list[SliceThreshold] = []


class ServingSection(_Section):
    model_name: str = Field("clickpipe", pattern=r"^[A-Za-z0-9_.-]{1,128}$")
    model_base_path: str = ""
    host: str = "127.0.0.1"
    rest_port: int = Field(8501, ge=0, le=65535)
    grpc_port: int = Field(8500, ge=0, le=65535)


class KubeflowSection(_Section):
    image: str = "gcr.io/YOUR_PROJECT/clickpipe:0.1.0"
    pipeline_root: str = "gs://YOUR_BUCKET/clickpipe/pipeline-root"
    host: str = ""
    experiment: str = "clickpipe"
    schedule: str = "0 0 6 2 * *"
    compile_dir: str = "build/kubeflow"


class ValidationSection(_Section):
    """Data validation: the curated schema, where validated statistics live, drift thresholds.

    Thresholds are TFDV comparator limits: L-infinity distance for categorical and text
    features and the label, approximate Jensen-Shannon divergence for numeric ones.
    """

    schema_file: str = ""
    store: str = ""
    categorical_drift: float = Field(0.05, gt=0, le=1)
    numeric_drift: float = Field(0.06, gt=0, le=1)
    label_drift: float = Field(0.01, gt=0, le=1)
    drift_thresholds: dict[str, Annotated[float, Field(gt=0, le=1)]] = {}
    skew_thresholds: dict[str, Annotated[float, Field(gt=0, le=1)]] = {}


class ClickpipeConfig(_Section):
    """The whole config; see docs/config.md for every key."""

    pipeline: PipelineSection = PipelineSection()
    dataset: DatasetSection
    training: TrainingSection = TrainingSection()
    evaluation: EvaluationSection = EvaluationSection()
    serving: ServingSection = ServingSection()
    kubeflow: KubeflowSection = KubeflowSection()
    validation: ValidationSection = ValidationSection()
    source_file: str = Field("", exclude=True)

    @model_validator(mode="after")
    def _slice_thresholds_are_slices(self) -> ClickpipeConfig:
        for item in self.evaluation.slice_thresholds:
            if item.slice not in self.dataset.slices:
                raise ValueError(f"evaluation.slice_thresholds slice {item.slice} is not in dataset.slices")
        return self

    @model_validator(mode="after")
    def _thresholds_name_compared_features(self) -> ClickpipeConfig:
        compared = {f.name for f in self.dataset.features if f.kind is not Kind.IMAGE} | {self.dataset.label}
        for key in ("drift_thresholds", "skew_thresholds"):
            unknown = sorted(set(getattr(self.validation, key)) - compared)
            if unknown:
                raise ValueError(
                    f"validation.{key} names {', '.join(unknown)}: not the label or a "
                    "non-image feature of dataset.features"
                )
        return self

    @property
    def model_base_path(self) -> str:
        default = Path(self.pipeline.home) / "serving-models" / self.serving.model_name
        return self.serving.model_base_path or str(default)

    def registry(self) -> FeatureRegistry:
        """The feature registry built from this config."""
        return FeatureRegistry(
            label=self.dataset.label,
            example_id=self.dataset.example_id,
            features=tuple(Feature(**f.model_dump()) for f in self.dataset.features),
            crosses=tuple(tuple(c) for c in self.dataset.crosses),
            passthrough=tuple(self.dataset.passthrough),
            image_size=self.training.image_size,
            text_max_tokens=self.training.text_max_tokens,
            cross_hash_buckets=self.training.cross_hash_buckets,
        )

    def with_overrides(self, **sections: dict) -> ClickpipeConfig:
        """A copy with some keys replaced, e.g. ``with_overrides(dataset={"span": "2026-10"})``."""
        data = self.model_dump()
        for section, values in sections.items():
            data[section] = {**data[section], **values}
        return _validate(data, self.source_file)


def _location(error: dict) -> str:
    return ".".join(str(part) for part in error["loc"]) or "(top level)"


def _validate(data: dict, source: str) -> ClickpipeConfig:
    try:
        config = ClickpipeConfig.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            message = error["msg"]
            if error["type"] == "extra_forbidden":
                message = "unknown key (remove it or check the spelling)"
            elif error["type"] == "missing":
                message = "missing required key"
            problems.append(f"  {_location(error)}: {message}")
        raise ConfigError(f"invalid config {source}:\n" + "\n".join(problems)) from None
    return config.model_copy(update={"source_file": source})


def load_config(path: str | Path | None = None) -> ClickpipeConfig:
    """Reads and validates a config file; without a path, the packaged ad-click default.

    Raises:
        ConfigError: the file is missing, is not TOML, or has an unknown, missing or
            mistyped key. The message names the file and the key.
    """
    if path is None:
        text = resources.files("pipeline").joinpath(DEFAULT_CONFIG).read_text()
        source = f"(built-in {DEFAULT_CONFIG})"
    else:
        source = str(path)
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise ConfigError(f"cannot read config {source}: {exc.strerror}") from None
    try:
        data = tomli.loads(text)
    except tomli.TOMLDecodeError as exc:
        raise ConfigError(f"config {source} is not valid TOML: {exc}") from None
    return _validate(data, source)

