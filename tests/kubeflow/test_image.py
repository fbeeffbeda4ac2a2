"""What can be checked of kubeflow/Dockerfile without Docker: base, lock, code, entrypoint."""

import fnmatch
import re
import shlex
from pathlib import Path

import pytest
import tomli

from kubeflow.compile import KFP_COMMAND

ROOT = Path(__file__).resolve().parents[2]


def _instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    joined, current = [], ""
    for line in path.read_text().splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current += line.rstrip().removesuffix("\\") + " "
        if not line.rstrip().endswith("\\"):
            joined.append(current.strip())
            current = ""
    return [tuple(item.split(None, 1)) for item in joined]


@pytest.fixture(scope="module")
def dockerfile():
    return _instructions(ROOT / "kubeflow" / "Dockerfile")


def _locked(package: str) -> str:
    match = re.search(rf"^{package}==(\S+)$", (ROOT / "requirements.lock").read_text(), re.M)
    return match.group(1)


def _packages() -> list[str]:
    pyproject = tomli.loads((ROOT / "pyproject.toml").read_text())
    includes = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    return [pattern.rstrip("*") for pattern in includes]


def _copied_sources(dockerfile) -> list[str]:
    return [src for kind, args in dockerfile if kind == "COPY" for src in args.split()[:-1]]


def test_based_on_the_official_tfx_image_of_the_locked_version(dockerfile):
    assert dockerfile[0] == ("FROM", f"tensorflow/tfx:{_locked('tfx')}")
    assert [kind for kind, _ in dockerfile].count("FROM") == 1


def test_installs_the_lock_before_the_code_then_the_code_without_resolving(dockerfile):
    runs = [args for kind, args in dockerfile if kind == "RUN"]
    copies = [args for kind, args in dockerfile if kind == "COPY"]

    assert runs[0] == "python -m pip install --no-cache-dir -r requirements.lock"
    assert copies[0] == "requirements.lock ./"
    assert "python -m pip install --no-cache-dir --no-deps ." in runs
    lock_at = dockerfile.index(("RUN", runs[0]))
    code_at = min(dockerfile.index(("COPY", c)) for c in copies if c.startswith("pipeline/"))
    assert lock_at < code_at


def test_copies_every_package_the_project_installs(dockerfile):
    copied = {src.rstrip("/") for src in _copied_sources(dockerfile)}

    assert set(_packages()) <= copied
    assert {"pyproject.toml", "README.md", "requirements.lock"} <= copied


def test_build_runs_the_spec_container_command(dockerfile):
    runs = [args for kind, args in dockerfile if kind == "RUN"]
    checks = [args for args in runs if "kubeflow_v2_run_executor" in args]

    [check] = checks
    first_command = shlex.split(check.split("&&")[0])
    assert tuple(first_command[: len(KFP_COMMAND)]) == KFP_COMMAND


def test_keras_is_the_legacy_one_in_every_task(dockerfile):
    env = " ".join(args for kind, args in dockerfile if kind == "ENV")

    assert "TF_USE_LEGACY_KERAS=1" in env.split()


def test_dockerignore_keeps_the_venv_out_and_the_copied_files_in(dockerfile):
    ignored = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    copied = [src.rstrip("/") for src in _copied_sources(dockerfile)]

    assert ".venv" in ignored and ".git" in ignored
    for path in copied:
        assert not any(fnmatch.fnmatch(path, pattern) for pattern in ignored), path
