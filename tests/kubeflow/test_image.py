"""What can be checked of kubeflow/Dockerfile without Docker: base, lock, code, build check."""

import fnmatch
import re
import subprocess

import pytest
import tomli

from kubeflow import image_check
from kubeflow.entrypoint import TFX_ENTRYPOINT
from tests.kubeflow.image import ROOT, copied_sources, instructions, lay_out


@pytest.fixture(scope="module")
def dockerfile():
    return instructions()


def _pins(lock: str) -> dict[str, str]:
    return dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)$", (ROOT / lock).read_text(), re.M))


def _locked(package: str) -> str:
    return _pins("requirements.lock")[package]


def _packages() -> list[str]:
    pyproject = tomli.loads((ROOT / "pyproject.toml").read_text())
    includes = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    return [pattern.rstrip("*") for pattern in includes]


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
    copied = {src.rstrip("/") for src in copied_sources(dockerfile)}

    assert set(_packages()) <= copied
    assert {"pyproject.toml", "README.md", "requirements.lock"} <= copied


def test_the_image_carries_no_development_tools_and_the_same_runtime_pins_as_the_venv():
    runtime, dev = _pins("requirements.lock"), _pins("requirements-dev.lock")

    assert not {"pytest", "ruff"} & set(runtime)
    assert {"pytest", "ruff"} <= set(dev)
    assert {name: dev[name] for name in runtime} == runtime


def test_build_checks_the_container_command_on_an_untyped_input(dockerfile):
    runs = [args for kind, args in dockerfile if kind == "RUN"]

    [check] = [args for args in runs if "kubeflow.image_check" in args]
    assert check.split("&&")[0].split() == ["python", "-m", "kubeflow.image_check"]


@pytest.mark.integration
def test_the_build_checks_pass_in_the_image_layout(tmp_path):
    image = lay_out(tmp_path)

    assert image.checks
    for check in image.checks:
        done = subprocess.run(check, shell=True, cwd=image.workdir, env=image.env, capture_output=True, text=True)
        assert done.returncode == 0, f"{check}\n{done.stdout[-2000:]}{done.stderr[-2000:]}"


@pytest.mark.integration
def test_the_probe_fails_with_tfxs_own_entrypoint(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", lay_out(tmp_path).env["PATH"])

    problem = image_check.run_check(command=("python", "-m", TFX_ENTRYPOINT))

    assert problem is not None and "'NoneType' object has no attribute 'get'" in problem


def test_keras_is_the_legacy_one_in_every_task(dockerfile):
    env = " ".join(args for kind, args in dockerfile if kind == "ENV")

    assert "TF_USE_LEGACY_KERAS=1" in env.split()


def test_dockerignore_keeps_the_venv_out_and_the_copied_files_in(dockerfile):
    ignored = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    copied = [src.rstrip("/") for src in copied_sources(dockerfile)]

    assert ".venv" in ignored and ".git" in ignored
    for path in copied:
        assert not any(fnmatch.fnmatch(path, pattern) for pattern in ignored), path
