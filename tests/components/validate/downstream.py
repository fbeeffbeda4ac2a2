"""A node that stands for Transform in the gate's integration test: it records that it ran."""

from pathlib import Path

from tfx.dsl.component.experimental.decorators import component
from tfx.types import standard_artifacts
from tfx.v1.dsl.components import InputArtifact, Parameter


@component
def AfterGate(schema: InputArtifact[standard_artifacts.Schema], marker: Parameter[str]) -> None:  # noqa: N802
    """Writes the span it ran for into `marker`."""
    Path(marker).write_text(Path(schema.uri).name)
