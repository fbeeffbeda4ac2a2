"""Stock TFMA on an evaluation EvaluateModel already wrote, off the critical path.

    TF_USE_LEGACY_KERAS=1 .venv/bin/python -m components.evaluate.stock_tfma EVALUATION_DIR OUTPUT_DIR

For a user who wants TFMA-computed numbers beside the gate's: reads the `eval_config.json` the
gate exported into a `ModelEvaluation` folder (models, data location, slicings, metric specs and
thresholds) and runs `tfma.run_model_analysis` with it, writing TFMA's own files into OUTPUT_DIR,
which `tfma.load_eval_result` and `tfma.view` open like any TFMA output. It takes TFMA's time
(about a minute for 20,000 rows and two models here, several with confidence intervals), so the
pipeline never runs it; nothing here changes the blessing.
"""

from __future__ import annotations

import argparse
import os


def run(evaluation_uri: str, output_uri: str) -> str:
    """Runs stock TFMA with the evaluation's exported config; returns `output_uri`.

    Raises:
        FileNotFoundError: the folder holds no exported `eval_config.json` (e.g. the candidate
            was already pushed and not evaluated again).
    """
    import tensorflow as tf
    import tensorflow_model_analysis as tfma
    from google.protobuf import json_format
    from tensorflow_model_analysis.proto import config_pb2

    from components.evaluate import tfma_export

    path = os.path.join(evaluation_uri, tfma_export.EVAL_CONFIG_FILE)
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(f"no exported {tfma_export.EVAL_CONFIG_FILE} in {evaluation_uri}: "
                                "the candidate was not evaluated there")
    run_spec = config_pb2.EvalRun()
    with tf.io.gfile.GFile(path) as f:
        json_format.Parse(f.read(), run_spec)
    config = run_spec.eval_config
    tfma.run_model_analysis(
        eval_shared_model=[tfma.default_eval_shared_model(run_spec.model_locations[spec.name], eval_config=config,
                                                          model_name=spec.name) for spec in config.model_specs],
        eval_config=config,
        data_location=run_spec.data_location,
        file_format=run_spec.file_format,
        output_path=output_uri,
    )
    return output_uri


def main(argv: list[str] | None = None) -> None:
    """The command line: EVALUATION_DIR OUTPUT_DIR."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("evaluation_dir", help="EvaluateModel's evaluation folder (holds eval_config.json)")
    parser.add_argument("output_dir", help="where TFMA writes its files")
    args = parser.parse_args(argv)
    try:
        print(run(args.evaluation_dir, args.output_dir))
    except FileNotFoundError as exc:
        parser.exit(2, f"error: {exc}\n")


if __name__ == "__main__":
    main()
