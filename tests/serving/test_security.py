"""Security defaults: loopback binding, no unpickling anywhere in the serving code."""

from __future__ import annotations

import ast
from pathlib import Path

from serving.server import ServerOptions

SERVING = Path(__file__).resolve().parents[2] / "serving"
UNSAFE_MODULES = {"pickle", "cPickle", "dill", "cloudpickle", "marshal", "shelve", "joblib"}


def test_servers_bind_to_loopback_unless_told_otherwise():
    assert ServerOptions().host == "127.0.0.1"
    assert ServerOptions().rest_api_host is None


def test_no_serving_module_imports_an_unpickler():
    for path in SERVING.glob("*.py"):
        tree = ast.parse(path.read_text())
        imported = {
            alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        }
        imported |= {
            node.module.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module
        }
        assert not imported & UNSAFE_MODULES, path
