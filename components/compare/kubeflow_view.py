"""The report as Kubeflow Pipelines UI outputs: `system.HTML` and `system.Markdown` artifacts.

The KFP UI renders an artifact typed `system.HTML`/`system.Markdown` from the file at its URI.
TFX 1.16's Kubeflow V2 compiler gives first-party types `tfx.*` titles and a custom type its
TYPE_NAME as title, and its container entrypoint imports every artifact class by that title,
so a Python-executor component cannot emit `system.HTML`. A container component can: KFP's own
launcher handles its artifacts. This node therefore exists only in the Kubeflow pipeline
(LocalDagRunner would need Docker for it); locally the report folder is the output.

Run as ``python -m components.compare.kubeflow_view --report URI --html URI --markdown URI``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from tfx.dsl.component.experimental import container_component, placeholders
from tfx.types import artifact
from tfx.types.experimental.simple_artifacts import File

from components.compare.files import REPORT_FILE, SUMMARY_FILE

COMMAND = ["python", "-m", "components.compare.kubeflow_view"]


class HtmlView(artifact.Artifact):
    """KFP's HTML visualization type; the artifact URI is the HTML file itself."""

    TYPE_NAME = "system.HTML"


class MarkdownView(artifact.Artifact):
    """KFP's Markdown visualization type; the artifact URI is the Markdown file itself."""

    TYPE_NAME = "system.Markdown"


def report_view_component(image: str):
    """The container component class that shows a CompareModels in the KFP UI.

    Args:
        image: the project's container image (`config.kubeflow.image`).

    Returns:
        A component class; instantiate with ``report=comparison.outputs["report"]``.
    """
    return container_component.create_container_component(
        name="ShowComparisonReport",
        image=image,
        command=[
            *COMMAND,
            "--report",
            placeholders.InputUriPlaceholder("report"),
            "--html",
            placeholders.OutputUriPlaceholder("html"),
            "--markdown",
            placeholders.OutputUriPlaceholder("markdown"),
        ],
        inputs={"report": File},
        outputs={"html": HtmlView, "markdown": MarkdownView},
    )


def publish(report_uri: str, html_uri: str, markdown_uri: str) -> None:
    """Copies the report's HTML and Markdown to the URIs the KFP UI reads."""
    import tensorflow as tf

    for name, target in ((REPORT_FILE, html_uri), (SUMMARY_FILE, markdown_uri)):
        parent = os.path.dirname(target.rstrip("/"))
        if parent:
            tf.io.gfile.makedirs(parent)
        tf.io.gfile.copy(os.path.join(report_uri, name), target, overwrite=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point inside the container."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", required=True, help="the CompareModels folder")
    parser.add_argument("--html", required=True, help="where the system.HTML artifact goes")
    parser.add_argument("--markdown", required=True, help="where the system.Markdown artifact goes")
    args = parser.parse_args(argv)
    publish(args.report, args.html, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
