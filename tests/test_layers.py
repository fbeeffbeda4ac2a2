"""Imports point one way: no module imports a layer above its own (see docs/architecture.md).

Every import counts, at module level or inside a function, and so does a module named to
`importlib.import_module`: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("trainer", "serving", "datagen", "components", "pipeline", "kubeflow")
# What each top-level package may import besides itself.
ALLOWED = {
    "trainer": set(),
    "serving": set(),
    "datagen": set(),
    "components": {"trainer", "serving"},
    "pipeline": {"components", "trainer", "serving"},
    "kubeflow": {"pipeline", "components", "trainer", "serving"},
}
# The demo commands generate data; nothing else in the product depends on the generator.
COMMANDS = ("pipeline.cli", "kubeflow.cli")
COMMAND_ONLY = {"datagen"}
# A stage's component and executor modules are its own; other stages use its contract modules.
PRIVATE_TO_A_STAGE = ("component", "executor")


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(path: Path) -> list[tuple[str, ...]]:
    """Per import, the modules it may name: ``from a.b import c`` may be module ``a.b.c``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.extend((alias.name,) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.module, *(f"{node.module}.{alias.name}" for alias in node.names)))
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            found.append((node.args[0].value,))
    return [names for names in found if names[0].split(".")[0] in PACKAGES]


def forbidden_edges(modules: dict[str, Path]) -> list[str]:
    """Every import that runs against the layers, as "importer -> imported (why)"."""
    problems = []
    for module, path in sorted(modules.items()):
        layer = module.split(".")[0]
        for names in _imports(path):
            imported, target = names[0], names[0].split(".")[0]
            if target in COMMAND_ONLY and module.startswith(COMMANDS):
                continue
            if target != layer and target not in ALLOWED[layer]:
                problems.append(f"{module} -> {imported} ({layer}/ may not import {target}/)")
            elif layer == target == "components":
                edges = [edge for name in names for edge in _stage_edge(module, name)]
                problems.extend(edges[:1])
            elif imported.startswith("pipeline.cli") and not module.startswith(COMMANDS):
                problems.append(f"{module} -> {imported} (only command modules use the CLI)")
    return problems


def _stage_edge(module: str, imported: str) -> list[str]:
    own, other = module.split("."), imported.split(".")
    if len(other) >= 3 and len(own) >= 3 and own[1] != other[1] and other[2] in PRIVATE_TO_A_STAGE:
        return [f"{module} -> {imported} (another stage's {other[2]} module)"]
    return []


def test_no_import_runs_back_up_the_layers():
    assert forbidden_edges(_modules()) == []


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        ("serving.server", "from pipeline.config import load_config", "serving/ may not import pipeline/"),
        ("trainer.model", "import components.spans", "trainer/ may not import components/"),
        ("pipeline.local.summary", "from datagen import limits", "pipeline/ may not import datagen/"),
        ("pipeline.cli.run", "from datagen.limits import best_achievable", None),
        ("components.push.executor", "from components.validate_serving.executor import x", "another stage's executor"),
        ("components.push.executor", "from components import evaluation_results", None),
        ("pipeline.local.runner", "from pipeline.cli.common import UserError", "only command modules"),
        ("pipeline.cli.__init__", "importlib.import_module('kubeflow.cli')", "pipeline/ may not import kubeflow/"),
    ],
)
def test_the_check_sees_a_forbidden_edge(tmp_path, module, source, expected):
    path = tmp_path / "module.py"
    path.write_text(source + "\n")

    problems = forbidden_edges({module: path})

    if expected is None:
        assert problems == []
    else:
        [problem] = problems
        assert expected in problem
