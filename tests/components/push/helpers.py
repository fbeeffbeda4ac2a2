"""Running PushModel's executor directly on artifacts in tmp folders."""

from __future__ import annotations

from pathlib import Path


def push(model_uri: Path, base: Path, infra_blessing=None, model_blessed: int = 1):
    """Runs PushModel's executor; returns the PushedModel artifact."""
    from tfx.types import standard_artifacts

    from components.push import executor
    from tests.components.validate_serving import fixtures as fx

    model_blessing = standard_artifacts.ModelBlessing()
    model_blessing.uri = str(base.parent / "model-blessing")
    model_blessing.set_int_custom_property("blessed", model_blessed)
    pushed = standard_artifacts.PushedModel()
    pushed.uri = str(base.parent / "pushed")
    inputs = {"model": [fx.model_artifact(model_uri)], "model_blessing": [model_blessing]}
    if infra_blessing is not None:
        inputs["infra_blessing"] = [infra_blessing]
    executor.Executor().Do(inputs, {"pushed_model": [pushed]}, {"model_base_path": str(base)})
    return pushed


def record_copies(monkeypatch) -> list[str]:
    """Records every `fileio.copy` destination, in order (the push writes through it)."""
    from tfx.dsl.io import fileio

    copies: list[str] = []
    original = fileio.copy

    def copy(src, dst, overwrite=False):
        copies.append(str(dst))
        return original(src, dst, overwrite=overwrite)

    monkeypatch.setattr(fileio, "copy", copy)
    return copies
