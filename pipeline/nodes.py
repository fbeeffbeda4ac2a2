"""The node ids of the clickpipe DAG: task names on Kubeflow, progress lines locally, ML Metadata
contexts. Spelled only here; `pipeline.pipeline` gives every node its id from this module."""

INGEST = "IngestImpressions"
IMPORT_SCHEMA = "ImportSchema"
STATISTICS = "ComputeStatistics"
VALIDATE = "ValidateImpressions"
TRANSFORM = "TransformFeatures"
TRAIN = "TrainModel"
VALIDATE_SERVING = "ValidateServing"
PRODUCTION_MODEL = "FindProductionModel"
EVALUATE = "EvaluateModel"
PUSH = "PushModel"
COMPARE = "CompareModels"
# Only on Kubeflow: the comparison report as an HTML/Markdown output in the KFP UI.
SHOW_REPORT = "ShowComparisonReport"

# Every node of a local run, in the order the DAG lists them.
LOCAL = (
    INGEST,
    IMPORT_SCHEMA,
    STATISTICS,
    VALIDATE,
    TRANSFORM,
    TRAIN,
    VALIDATE_SERVING,
    PRODUCTION_MODEL,
    EVALUATE,
    PUSH,
    COMPARE,
)
KUBEFLOW = (*LOCAL, SHOW_REPORT)
