"""Imports point one way: no module imports a layer above its own (see docs/architecture.md).

Every import counts, at module level or inside a function, and so does a module named to
`importlib.import_module`: a lazy import is still a dependency. Stages meet only through
artifacts: no stage imports another stage, and the property names they hand each other are
spelled once, in `components/artifacts.py`.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from components import artifacts

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
# A stage is a folder of components/; what stages share are the modules at components/ top level.
STAGES = frozenset(path.name for path in (ROOT / "components").iterdir() if (path / "__init__.py").exists())
# A stage's executor runs inside TFX; pipeline/ and kubeflow/ use the stage's other modules.
EXECUTOR = "executor"
# Calls that read or write an artifact's (custom) property by name.
PROPERTY_CALL = re.compile(r"(^|_)property$")
PROPERTY_MAPS = ("properties", "custom_properties")


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
            elif target == "components" and any(_is_executor(name) for name in names):
                problems.append(f"{module} -> {imported} (a stage's executor is TFX's to run)")
            elif imported.startswith("pipeline.cli") and not module.startswith(COMMANDS):
                problems.append(f"{module} -> {imported} (only command modules use the CLI)")
    return problems


def _stage_edge(module: str, imported: str) -> list[str]:
    own, other = module.split("."), imported.split(".")
    if len(other) < 2 or other[1] not in STAGES or module == "components":
        return []
    if len(own) < 3:
        return [f"{module} -> {imported} (a contract module imports the stage {other[1]})"]
    if own[1] != other[1]:
        return [f"{module} -> {imported} (another stage's module)"]
    return []


def _is_executor(imported: str) -> bool:
    parts = imported.split(".")
    return len(parts) >= 3 and parts[1] in STAGES and parts[2] == EXECUTOR


def spelled_out_properties(modules: dict[str, Path]) -> list[str]:
    """Every get/set/has of a property named by a bare string that `components.artifacts` defines."""
    problems = []
    for module, path in sorted(modules.items()):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                called = getattr(node.func, "attr", getattr(node.func, "id", ""))
                named = node.args if PROPERTY_CALL.search(called) else []
            elif isinstance(node, ast.Subscript) and getattr(node.value, "attr", "") in PROPERTY_MAPS:
                named = [node.slice]
            else:
                continue
            for arg in named:
                if isinstance(arg, ast.Constant) and arg.value in artifacts.NAMES:
                    problems.append(f"{module}:{node.lineno} spells out {arg.value!r} (use components.artifacts)")
    return problems


def test_no_import_runs_back_up_the_layers():
    assert forbidden_edges(_modules()) == []


def test_property_names_are_spelled_once():
    assert spelled_out_properties(_modules()) == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('blessing.get_int_custom_property("blessed")', "'blessed'"),
        ('metadata.artifact_property(pushed, "pushed_version", "")', "'pushed_version'"),
        ('artifact.properties["span"].int_value', "'span'"),
        ("blessing.get_int_custom_property(artifacts.BLESSED)", None),
        ('anomalies.set_string_custom_property("not_shared", "x")', None),
    ],
)
def test_the_check_sees_a_spelled_out_property(tmp_path, source, expected):
    path = tmp_path / "module.py"
    path.write_text(source + "\n")

    problems = spelled_out_properties({"components.push.executor": path})

    if expected is None:
        assert problems == []
    else:
        [problem] = problems
        assert expected in problem


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        ("serving.server", "from pipeline.config import load_config", "serving/ may not import pipeline/"),
        ("trainer.model", "import components.spans", "trainer/ may not import components/"),
        ("pipeline.local.summary", "from datagen import limits", "pipeline/ may not import datagen/"),
        ("pipeline.cli.run", "from datagen.limits import best_achievable", None),
        ("components.push.executor", "from components.validate_serving.executor import x", "another stage's module"),
        ("components.push.executor", "from components.evaluate import gate", "another stage's module"),
        ("components.push.executor", "from components import evaluation_results, artifacts", None),
        ("components.push.records", "from components.push.executor import x", None),
        ("components.push_records", "from components.push import executor", "a contract module imports the stage"),
        ("pipeline.models", "from components.compare.executor import write_report", "TFX's to run"),
        ("pipeline.models", "from components.compare import html", None),
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
