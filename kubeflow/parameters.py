"""The pipeline's runtime parameters on Kubeflow: their names, defaults and CLI parsing.

A runtime parameter is a value a run may change without recompiling. TFX 1.16 supports
them on `KubeflowV2DagRunner` for str/int/float execution properties only, so the one we
expose is the month to ingest: `span` ("latest" or e.g. "2026-10"), resolved by the
ingestion executor at run time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from components.spans import LATEST, is_month
from pipeline.config import ClickpipeConfig


class ParameterError(ValueError):
    """A `--param` the user must fix; the message names it."""


@dataclass(frozen=True)
class RuntimeParameterSpec:
    """One runtime parameter of the compiled pipeline.

    Attributes:
        name: the parameter name in the pipeline spec and in run requests.
        config_key: the config key whose value is the compiled default.
        description: shown by `clickpipe kfp compile` and in the docs.
    """

    name: str
    config_key: str
    description: str

    def default(self, config: ClickpipeConfig) -> str:
        """The default value, read from the config."""
        section, key = self.config_key.split(".")
        return str(getattr(getattr(config, section), key))


SPAN = RuntimeParameterSpec(
    name="span",
    config_key="dataset.span",
    description='the month to ingest: "latest" or YYYY-MM (resolved by the ingestion executor)',
)
PARAMETERS: tuple[RuntimeParameterSpec, ...] = (SPAN,)


def _check_span(value: str) -> None:
    if value != LATEST and not is_month(value):
        raise ParameterError(f"--param span={value}: use 'latest' or a month like 2026-10")


def parameter_values(config: ClickpipeConfig, assignments: Iterable[str] = ()) -> dict[str, str]:
    """Every runtime parameter's value: the config's default unless `NAME=VALUE` overrides it.

    Args:
        config: the project config (gives the defaults).
        assignments: `NAME=VALUE` strings from `--param`.

    Returns:
        A value for every parameter, so run requests never depend on server-side defaults.

    Raises:
        ParameterError: an assignment has no `=`, names an unknown parameter or has a bad value.
    """
    values = {spec.name: spec.default(config) for spec in PARAMETERS}
    for assignment in assignments:
        name, sep, value = assignment.partition("=")
        if not sep or not name:
            raise ParameterError(f"--param {assignment}: expected NAME=VALUE")
        if name not in values:
            known = ", ".join(spec.name for spec in PARAMETERS)
            raise ParameterError(
                f"--param {assignment}: unknown parameter {name!r} (known: {known})"
            )
        values[name] = value
    _check_span(values[SPAN.name])
    return values
