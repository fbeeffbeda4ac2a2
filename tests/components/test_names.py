"""A component's names agree: its class is its node id, its spec is `<class>Spec`, one folder each."""

import importlib
from pathlib import Path

import pytest
from tfx.dsl.components.base import base_component

from pipeline import nodes

COMPONENTS = Path(__file__).resolve().parents[2] / "components"
FOLDERS = sorted(p.name for p in COMPONENTS.iterdir() if (p / "component.py").exists())


def _components(folder: str) -> list[type]:
    module = importlib.import_module(f"components.{folder}.component")
    return [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, base_component.BaseComponent)
        and value.__module__ == module.__name__
    ]


@pytest.mark.parametrize("folder", FOLDERS)
def test_class_spec_and_node_id_agree(folder):
    [component] = _components(folder)

    assert component.SPEC_CLASS.__name__ == f"{component.__name__}Spec"
    assert component.__name__ in vars(nodes).values()
