"""The image's build-time check: the tasks' container command runs a task with untyped inputs.

Builds the executor input the open-source KFP 2.x driver sends to a task downstream of others
(input artifacts with ``"type": {"instanceSchema": ""}``, their metadata read back from ML
Metadata with numbers as doubles), runs the spec's container command (`compile.KFP_COMMAND`)
on it in a subprocess with a probe executor, and checks the executor output: every input was
parsed into its declared TFX class, with its properties intact. Exits 1 with the task log when
not, so a broken image fails `docker build`, not the first monthly run.

Run as ``python -m kubeflow.image_check`` (kubeflow/Dockerfile does).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from tfx.dsl.components.base import base_executor

from kubeflow.compile import KFP_COMMAND

PROBE = "kubeflow.image_check.ProbeExecutor"
REPORT_KEY = "report"
# Input key -> (artifact type title as TFX compiles it, the class the entrypoint must build).
INPUTS = {
    "examples": ("tfx.Examples", "Examples"),
    "quarantine": ("components.QuarantinedRows", "QuarantinedRows"),
    "model": ("tfx.Model", "Model"),
}
SPAN = 202610


class ProbeExecutor(base_executor.BaseExecutor):
    """Writes what it was given: each input's class, and the Examples' span and splits."""

    def Do(self, input_dict, output_dict, exec_properties) -> None:  # noqa: N802 - TFX API
        seen = {key: type(artifacts[0]).__name__ for key, artifacts in input_dict.items()}
        examples = input_dict["examples"][0]
        seen["span"] = examples.span
        seen["split_names"] = examples.split_names
        output_dict[REPORT_KEY][0].set_string_custom_property("seen", json.dumps(seen, sort_keys=True))


def _schema(title: str) -> dict:
    return {"instanceSchema": f"title: {title}\ntype: object\n"}


def executor_input(folder: Path) -> dict:
    """What the open-source KFP driver sends: upstream artifacts untyped, numbers as doubles."""
    inputs = {
        key: {
            "artifacts": [
                {
                    "name": str(number),
                    "uri": str(folder / key),
                    "type": {"instanceSchema": ""},
                    "metadata": {"span": float(SPAN), "split_names": '["train", "eval"]', "display_name": key},
                }
            ]
        }
        for number, key in enumerate(INPUTS, start=1)
    }
    return {
        "inputs": {"artifacts": inputs},
        "outputs": {
            "artifacts": {
                REPORT_KEY: {"artifacts": [{"uri": str(folder / REPORT_KEY), "type": _schema("tfx.String")}]}
            },
            "outputFile": str(folder / "kfp_outputs" / "output_metadata.json"),
        },
    }


def inputs_spec() -> dict:
    """The task's inputs spec, as TFX compiles it into ``--json_serialized_inputs_spec_args``."""
    return {"artifacts": {key: {"artifactType": _schema(title)} for key, (title, _) in INPUTS.items()}}


def expected() -> dict:
    return {**{key: cls for key, (_, cls) in INPUTS.items()}, "span": SPAN, "split_names": '["train", "eval"]'}


def run_check(command: tuple[str, ...] = KFP_COMMAND) -> str | None:
    """Runs the probe task through `command`; returns None when it passed, else what went wrong."""
    with tempfile.TemporaryDirectory(prefix="clickpipe-image-check-") as tmp:
        folder = Path(tmp)
        task = executor_input(folder)
        args = [
            *command,
            "--executor_class_path", PROBE,
            "--json_serialized_invocation_args", json.dumps(task),
            "--json_serialized_inputs_spec_args", json.dumps(inputs_spec()),
        ]  # fmt: skip
        process = subprocess.run(args, capture_output=True, text=True, check=False)
        if process.returncode != 0:
            tail = "\n".join((process.stdout + process.stderr).splitlines()[-15:])
            return f"{' '.join(command)} exited {process.returncode}:\n{tail}"
        output = json.loads(Path(task["outputs"]["outputFile"]).read_text())
        metadata = output["artifacts"][REPORT_KEY]["artifacts"][0]["metadata"]
        seen = json.loads(metadata["seen"])
        if seen != expected():
            return f"the task saw {seen}, expected {expected()}"
    return None


def main() -> int:
    problem = run_check()
    if problem:
        print(f"image check failed: {problem}", file=sys.stderr)
        return 1
    print(f"image check passed: {' '.join(KFP_COMMAND)} runs a task whose inputs arrive untyped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
