"""ValidateServing wired before PushModel compiles with KubeflowV2DagRunner (no cluster)."""

from __future__ import annotations

import pytest

# Compiling imports TFX's Kubeflow stack: tens of seconds, too slow for the unit tier.
pytestmark = pytest.mark.integration


def test_compiles_for_kubeflow_v2_with_standard_artifacts(tmp_path):
    from tfx import v1 as tfx
    from tfx.orchestration.kubeflow.v2.kubeflow_v2_dag_runner import (
        KubeflowV2DagRunner,
        KubeflowV2DagRunnerConfig,
    )

    from components.push.component import PushModel
    from components.validate_serving.component import ValidateServing

    def importer(name, artifact_type):
        return tfx.dsl.Importer(source_uri=str(tmp_path / name),
                                artifact_type=artifact_type).with_id(name)

    model = importer("Model", tfx.types.standard_artifacts.Model)
    examples = importer("Examples", tfx.types.standard_artifacts.Examples)
    blessing = importer("Blessing", tfx.types.standard_artifacts.ModelBlessing)
    infra = ValidateServing(model=model.outputs["result"], examples=examples.outputs["result"],
                            num_requests=4).with_id("ValidateServing")
    pusher = PushModel(model=model.outputs["result"], model_blessing=blessing.outputs["result"],
                       infra_blessing=infra.outputs["blessing"],
                       model_base_path="gs://bucket/models/clickpipe").with_id("PushModel")
    pipeline = tfx.dsl.Pipeline(pipeline_name="infra-compile", pipeline_root="gs://bucket/root",
                                components=[model, examples, blessing, infra, pusher])

    spec = KubeflowV2DagRunner(
        config=KubeflowV2DagRunnerConfig(default_image="clickpipe:test"),
        output_dir=str(tmp_path),
    ).run(pipeline, write_out=False)["pipelineSpec"]

    validate = spec["components"]["ValidateServing"]
    blessing_type = validate["outputDefinitions"]["artifacts"]["blessing"]["artifactType"]
    assert blessing_type["instanceSchema"].startswith("title: tfx.InfraBlessing\n")
    assert validate["inputDefinitions"]["parameters"]["num_requests"]["type"] == "INT"
    push_inputs = spec["root"]["dag"]["tasks"]["PushModel"]["inputs"]["artifacts"]
    assert push_inputs["infra_blessing"]["taskOutputArtifact"] == {
        "outputArtifactKey": "blessing", "producerTask": "ValidateServing"}
    executor = spec["deploymentSpec"]["executors"][validate["executorLabel"]]["container"]
    assert "components.validate_serving.executor.Executor" in " ".join(executor["args"])
