"""The comparison report's files, written together: report.html, summary.md and comparison.json.

Used by CompareModels's executor, its Kubeflow view and `clickpipe models compare`.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict

from components import evaluation_results
from components.compare import html

REPORT_FILE = "report.html"
SUMMARY_FILE = "summary.md"
DATA_FILE = "comparison.json"


def write_report(output_uri: str, evaluation: evaluation_results.Evaluation, context: html.ReportContext) -> str:
    """Writes report.html, summary.md and comparison.json into a folder; returns the HTML path."""
    from tfx.dsl.io import fileio

    fileio.makedirs(output_uri)
    files = {
        REPORT_FILE: html.render(evaluation, context),
        SUMMARY_FILE: html.render_markdown(evaluation, context),
        DATA_FILE: json.dumps({"context": asdict(context), "evaluation": asdict(evaluation)}, indent=1, default=str),
    }
    for name, text in files.items():
        with fileio.open(os.path.join(output_uri, name), "w") as f:
            f.write(text)
    return os.path.join(output_uri, REPORT_FILE)
