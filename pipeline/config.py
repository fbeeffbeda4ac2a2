"""The typed clickpipe config: one TOML file over the built-in defaults, validated once at the
entry point.

A file is an overlay on `default.toml`: its tables merge key by key into the defaults, and any
other value (a string, a number, an array, an array of tables such as `[[dataset.features]]`)
replaces the default whole; a `[dataset]` with features of its own is another dataset and
inherits nothing from the ad-click one. Every section forbids unknown keys and takes each value
only in its own type (no `"yes"` for a boolean), so a typo stops the run with the key and the
file named instead of being silently ignored. Relative paths are taken from the working
directory.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import tomli
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from components.spans import SPAN_FIELD, check_span
from trainer.features import PREDICTION_OUTPUT, Feature, FeatureRegistry, Kind, LabelRule
from trainer.settings import TrainingSettings

DEFAULT_CONFIG = "default.toml"


class ConfigError(ValueError):
    """A config a user must fix; the message names the file and the key."""


class _Section(BaseModel):
    # Strict: TOML has real booleans and numbers; "yes" for a boolean or "3" for a number is a typo.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


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
    # TOML spells the kind as a string; strict mode would take only the enum member.
    kind: Kind = Field(strict=False)
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


class ColumnTimes(_Section):
    """The right side of a label rule that is a column: ``{column = "fare_amount", times = 0.2}``."""

    column: str = Field(min_length=1)
    times: float = 1.0


def _right_side(value: Any) -> str:
    """Which form a label rule's right side takes, so an error names only that form."""
    if isinstance(value, dict | ColumnTimes):
        return "column"
    return "text" if isinstance(value, str) else "number"


class LabelRuleSection(_Section):
    """A label derived from other columns: 1 where ``column op right`` holds, else 0."""

    column: str = Field(min_length=1)
    op: Literal[">", ">=", "<", "<=", "==", "!="]
    right: Annotated[
        Annotated[float, Tag("number")] | Annotated[str, Tag("text")] | Annotated[ColumnTimes, Tag("column")],
        Discriminator(_right_side),
    ]

    @model_validator(mode="after")
    def _text_only_for_equality(self) -> LabelRuleSection:
        if isinstance(self.right, str) and self.op not in ("==", "!="):
            raise ValueError(f"a text right side {self.right!r} takes only == or != (got {self.op!r})")
        return self

    def rule(self) -> LabelRule:
        """The rule as the raw-row contract reads it."""
        if isinstance(self.right, ColumnTimes):
            return LabelRule(self.column, self.op, right_column=self.right.column, times=self.right.times)
        return LabelRule(self.column, self.op, value=self.right)


# Where a dataset's files are when the config does not say: month folders, or with a span column any CSV.
MONTH_FOLDERS_PATTERN = "{span}/*.csv"
SPAN_COLUMN_PATTERN = "*.csv"


class DatasetSection(_Section):
    """The dataset: where its rows are, how they are keyed, labelled and split into spans.

    The defaults here are dataset-neutral; the ad-click dataset's values live in `default.toml`.
    """

    source: str
    impressions_pattern: str = ""
    span_column: str = ""
    span_format: str = ""
    span: str = "latest"
    # Months of history one run reads: up to 50 years; more is a typo, not a window.
    window: int = Field(1, ge=1, le=600)
    label: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    label_rule: LabelRuleSection | None = None
    example_id: str = ""
    passthrough: list[str] = []
    prediction: str = Field(PREDICTION_OUTPUT, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    eval_percent: int = Field(20, ge=1, le=90)
    max_quarantined_fraction: float = Field(0.01, ge=0.0, le=1.0)
    features: list[FeatureSection]
    crosses: list[list[str]] = []
    slices: list[list[str]] = []

    @model_validator(mode="before")
    @classmethod
    def _default_pattern(cls, data: Any) -> Any:
        # Unset, the files are month folders' CSV files, or with a span column every CSV file.
        if isinstance(data, dict) and not data.get("impressions_pattern"):
            default = SPAN_COLUMN_PATTERN if data.get("span_column") else MONTH_FOLDERS_PATTERN
            data = {**data, "impressions_pattern": default}
        return data

    @field_validator("span")
    @classmethod
    def _span_form(cls, value: str) -> str:
        return check_span(value)

    @field_validator("features")
    @classmethod
    def _unique_names(cls, features: list[FeatureSection]) -> list[FeatureSection]:
        names = [f.name for f in features]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"feature names must be unique: {', '.join(repeated)} more than once")
        return features

    @field_validator("crosses", "slices")
    @classmethod
    def _name_features(cls, groups: list[list[str]], info: ValidationInfo) -> list[list[str]]:
        # Fields validate in order: `features` is in info.data unless it was itself invalid.
        if "features" not in info.data:
            return groups
        names = {f.name for f in info.data["features"]}
        unknown = sorted({k for keys in groups for k in keys if k not in names})
        if unknown:
            raise ValueError(f"names features not in dataset.features: {', '.join(unknown)}")
        return groups

    @model_validator(mode="after")
    def _label_is_its_own_column(self) -> DatasetSection:
        # The label a model learns must not also be one of its inputs or a row key.
        others = {
            **{f.name: "a feature of dataset.features" for f in self.features},
            **{name: "in dataset.passthrough" for name in self.passthrough},
            **({self.example_id: "dataset.example_id"} if self.example_id else {}),
        }
        if self.label in others:
            raise ValueError(
                f"label {self.label!r} is also {others[self.label]}; point dataset.label at the 0/1 column, "
                "or name the label and derive it with dataset.label_rule"
            )
        features = {f.name for f in self.features}
        if self.label_rule and self.label_rule.column in features:
            # The column a label is computed from is the outcome: as an input it would leak it.
            raise ValueError(
                f"label_rule.column {self.label_rule.column!r} is a feature of dataset.features: the model "
                "would see the outcome it predicts; compare another column, or drop the feature"
            )
        return self

    @model_validator(mode="after")
    def _spans_by_folder_or_column(self) -> DatasetSection:
        pattern = self.impressions_pattern
        if self.span_column and SPAN_FIELD in pattern:
            raise ValueError(
                f"impressions_pattern {pattern!r} names {SPAN_FIELD}, but dataset.span_column "
                f"{self.span_column!r} finds each row's month: name the files without {SPAN_FIELD}, e.g. \"*.csv\""
            )
        if not self.span_column and pattern.count(SPAN_FIELD) != 1:
            raise ValueError(
                f"impressions_pattern {pattern!r} must name the month folder once as {SPAN_FIELD} "
                "(e.g. \"{span}/*.csv\"), or set dataset.span_column to the rows' timestamp column"
            )
        if self.span_format and not self.span_column:
            raise ValueError("span_format is set but dataset.span_column is not: name the timestamp column")
        if self.span_format and "%" not in self.span_format:
            raise ValueError(f"span_format {self.span_format!r} is not a strptime format such as \"%Y-%m-%d %H:%M:%S\"")
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
    """The gate (see docs/evaluation.md): a floor, tolerated changes against production, the
    calibration rule, the confidence of the intervals, the clicks a slice needs to be judged,
    the new-values column."""

    min_auc: float = Field(0.6, ge=0, le=1)
    max_auc_drop: float = Field(0.002, ge=0, le=1)
    max_log_loss_increase: float = Field(0.01, ge=0)
    check_calibration: bool = True
    max_calibration_error: float = Field(0.1, gt=0)
    confidence: float = Field(0.95, gt=0.5, lt=1)
    min_clicks: int = Field(10, ge=2)
    guard_slices: bool = True
    new_column: str = ""
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
    def _new_column_is_stored(self) -> ClickpipeConfig:
        column = self.evaluation.new_column
        # Image features hold the creative's bytes, not a name the rows can be grouped by.
        stored = {f.name for f in self.dataset.features if f.kind is not Kind.IMAGE}
        if column and column not in stored | {self.dataset.example_id, *self.dataset.passthrough}:
            raise ValueError(
                f"evaluation.new_column {column!r} is not a non-image feature, the example id or a passthrough "
                'column of the dataset; name one, or set new_column = "" to leave the new-values slice out'
            )
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
        dataset = self.dataset
        return FeatureRegistry(
            label=dataset.label,
            example_id=dataset.example_id,
            features=tuple(Feature(**f.model_dump()) for f in dataset.features),
            crosses=tuple(tuple(c) for c in dataset.crosses),
            passthrough=tuple(dataset.passthrough),
            image_size=self.training.image_size,
            text_max_tokens=self.training.text_max_tokens,
            cross_hash_buckets=self.training.cross_hash_buckets,
            label_rule=dataset.label_rule.rule() if dataset.label_rule else None,
            span_column=dataset.span_column,
            span_format=dataset.span_format,
            prediction=dataset.prediction,
        )

    def with_overrides(self, **sections: dict) -> ClickpipeConfig:
        """A copy with some keys replaced, e.g. ``with_overrides(dataset={"span": "2026-10"})``."""
        data = self.model_dump()
        for section, values in sections.items():
            data[section] = {**data[section], **values}
        return _validate(data, self.source_file)

    def with_flags(self, flags: Mapping[str, tuple[str, Any]]) -> ClickpipeConfig:
        """A copy with keys set from command-line flags; flags whose value is None are skipped.

        Args:
            flags: flag → (dotted config key, value), e.g. ``{"--span": ("dataset.span", "2026-10")}``.

        Raises:
            ConfigError: a value is invalid; the message names the flag, not the config file.
        """
        given = {flag: (key, value) for flag, (key, value) in flags.items() if value is not None}
        data = self.model_dump()
        for key, value in given.values():
            section, name = key.split(".")
            data[section] = {**data[section], name: value}
        origins = {tuple(key.split(".")): (flag, value) for flag, (key, value) in given.items()}
        return _validate(data, self.source_file, origins=origins) if given else self


def _overlay(defaults: dict, overlay: dict) -> dict:
    """`overlay` over `defaults`: tables merge key by key; any other value replaces the default."""
    merged = dict(defaults)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _overlay(merged[key], value)
        else:
            merged[key] = value
    return merged


def _model_in(annotation) -> type[BaseModel] | None:
    """The config section class an annotation holds (itself, or inside list[...] / X | None)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in get_args(annotation):
        if found := _model_in(argument):
            return found
    return None


def _keys_at(loc: tuple) -> list[str]:
    """The keys the section at `loc` allows, for suggesting the one a typo meant."""
    model: type[BaseModel] | None = ClickpipeConfig
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part) if model else None
        model = _model_in(field.annotation) if field else None
    if model is None:
        return []
    return [name for name, field in model.model_fields.items() if not field.exclude]


def _message(error: dict) -> str:
    """Pydantic's message for one error, in the config's words."""
    loc = error["loc"]
    if error["type"] == "extra_forbidden":
        close = difflib.get_close_matches(str(loc[-1]), _keys_at(loc[:-1]), n=1, cutoff=0.6)
        return f"unknown key (did you mean {close[0]}?)" if close else "unknown key (remove it or check the spelling)"
    if error["type"] == "missing":
        return "missing required key"
    message = error["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if error["type"].endswith("_type"):
        message += f" (got {error['input']!r})"
    return message


def _validate(data: dict, source: str, *, origins: Mapping[tuple, tuple[str, Any]] | None = None) -> ClickpipeConfig:
    """Validates config data; errors name each key, or the flag that set it (`origins`).

    Args:
        data: the whole config as plain values.
        source: the file it came from, for messages.
        origins: config key path → (flag, value) that set it.
    """
    try:
        config = ClickpipeConfig.model_validate(data)
    except ValidationError as exc:
        problems, from_flags = [], []
        for error in exc.errors():
            loc = error["loc"]
            flag = next((origin for key, origin in (origins or {}).items() if loc[: len(key)] == key), None)
            if flag:
                message = _message(error)
                shown = "" if repr(flag[1]) in message else f" {flag[1]!r}"
                from_flags.append(f"{flag[0]}{shown}: {message}")
                continue
            where = ".".join(str(part) for part in loc) or "(top level)"
            problems.append(f"  {where}: {_message(error)}")
        if from_flags:
            raise ConfigError("; ".join(from_flags)) from None
        raise ConfigError(f"invalid config {source}:\n" + "\n".join(problems)) from None
    return config.model_copy(update={"source_file": source})


def _read_toml(text: str, source: str) -> dict:
    try:
        return tomli.loads(text)
    except tomli.TOMLDecodeError as exc:
        raise ConfigError(f"config {source} is not valid TOML: {exc}") from None


def load_config(path: str | Path | None = None) -> ClickpipeConfig:
    """Reads and validates a config file over the built-in defaults; without a path, the
    packaged ad-click default itself.

    The file is an overlay: its tables merge key by key into `default.toml`, and any other
    value (including an array such as `[[dataset.features]]`) replaces the default whole. A
    `[dataset]` that lists its own features describes another dataset and is taken from the
    file alone (keys it leaves out get the section's plain defaults, e.g. no crosses).

    Raises:
        ConfigError: the file is missing, is not TOML, or has an unknown, missing or
            mistyped key. The message names the file and the key.
    """
    default_source = f"(built-in {DEFAULT_CONFIG})"
    defaults = _read_toml(resources.files("pipeline").joinpath(DEFAULT_CONFIG).read_text(), default_source)
    if path is None:
        return _validate(defaults, default_source)
    source = str(path)
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config {source}: {exc.strerror}") from None
    given = _read_toml(text, source)
    if "features" in given.get("dataset", {}):
        # Features of its own make it another dataset: the ad-click crosses, slices and new-ads column do not apply.
        evaluation = {k: v for k, v in defaults.get("evaluation", {}).items() if k != "new_column"}
        defaults = {**defaults, "dataset": {}, "evaluation": evaluation}
    return _validate(_overlay(defaults, given), source)
