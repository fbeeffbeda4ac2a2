"""The project's environment standing in for the container image, laid out as the Dockerfile says.

No Docker here: the locked stack is this virtualenv (the image installs the same lock), and the
files the Dockerfile copies are copied to the same places under a temporary root, so that a task
runs its container command from the image's WORKDIR with the image's ENV, as in a pod.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "kubeflow" / "Dockerfile"


def instructions(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
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


def copied_sources(dockerfile: list[tuple[str, str]]) -> list[str]:
    """Every source path of the Dockerfile's COPY instructions."""
    return [src for kind, args in dockerfile if kind == "COPY" for src in args.split()[:-1]]


@dataclass(frozen=True)
class Image:
    """Where a task starts and with which environment.

    Attributes:
        workdir: the Dockerfile's WORKDIR, laid out under a temporary root.
        env: the environment of a container of the image: its ENV, and `python` on PATH being
            this virtualenv's (the image's interpreter with the same locked packages).
        checks: the Dockerfile's RUN commands that check the build (not the installs).
    """

    workdir: Path
    env: dict[str, str] = field(default_factory=dict)
    checks: tuple[str, ...] = ()


def lay_out(root: Path, dockerfile: Path = DOCKERFILE, context: Path = ROOT) -> Image:
    """Copies what the Dockerfile copies to where it copies it, under `root`.

    Only WORKDIR, COPY, ENV and RUN are read; RUN lines that install packages are what this
    virtualenv already is, the others are returned as build checks to execute.
    """
    workdir = root
    env = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}/usr/local/bin:/usr/bin:/bin",
        "HOME": str(root / "home"),
        "LANG": "C.UTF-8",
    }
    checks = []
    for kind, args in instructions(dockerfile):
        if kind == "WORKDIR":
            workdir = root / args.strip().lstrip("/")
            workdir.mkdir(parents=True, exist_ok=True)
        elif kind == "ENV":
            for assignment in shlex.split(args):
                name, _, value = assignment.partition("=")
                env[name] = value
        elif kind == "COPY":
            *sources, destination = args.split()
            target = workdir / destination
            for source in sources:
                path = context / source
                if path.is_dir():
                    shutil.copytree(path, target, ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)
                else:
                    target.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(path, target / path.name)
        elif kind == "RUN" and "pip install" not in args:
            checks.append(args)
    (root / "home").mkdir(parents=True, exist_ok=True)
    return Image(workdir=workdir, env=env, checks=tuple(checks))
