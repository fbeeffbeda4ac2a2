"""Stock TFMA 0.47, run with the `eval_config.json` EvaluateModel exports, agrees with every exported metric.

TFMA runs through `components.evaluate.stock_tfma`, the command a user runs on a finished run.

2,000 rows of an eval split and the two tiny serving models of `tests/pipeline/evaluation_fixtures.py`
(a good candidate, production blind on mobile's `z`): the gate scores and exports; then
`tfma.run_model_analysis` evaluates the same models on the same files with that config. Every
metric both write must agree within TFMA's own error: its AUCs come from a 10,000-bucket
histogram, so pairs of a click and a non-click whose predictions share a bucket may be ordered
either way (at most that share of pairs); the rest is float32 arithmetic.
"""

import json

import numpy as np
import pytest
import tensorflow_model_analysis as tfma
from google.protobuf import json_format

from components.evaluate import gate, scoring, stock_tfma, tfma_export
from components.evaluate.gate import GateSettings
from components.evaluation_results import AUC, AUC_PR, BASELINE, CANDIDATE
from tests.pipeline import evaluation_fixtures as fx

pytestmark = pytest.mark.integration

SETTINGS = GateSettings(
    label=fx.LABEL,
    column_kinds={"device_type": "bytes", "slot_position": "bytes"},
    slices=(("device_type",), ("device_type", "slot_position")),
    min_clicks=5,
    prediction="click_probability",
)
ROWS = 2000
FLOAT32 = 1e-5


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("stock_tfma")
    pattern = str(fx.write_examples(root / "Split-eval", rows=ROWS, seed=3) / "*")
    models = {CANDIDATE: str(fx.save_model(root / "candidate", **fx.GOOD)),
              BASELINE: str(fx.save_model(root / "baseline", **fx.WRONG_ON_MOBILE))}
    scored, settings = scoring.score(pattern, models[CANDIDATE], models[BASELINE], SETTINGS)
    evaluation = gate.judge(scored, settings)
    ours = root / "ours"
    tfma_export.write(str(ours), evaluation, settings, scored, models, pattern)

    stock = root / "stock"
    # The one command a user runs: `python -m components.evaluate.stock_tfma EVALUATION_DIR OUTPUT_DIR`.
    stock_tfma.main([str(ours), str(stock)])
    return {"ours": str(ours), "stock": str(stock), "scored": scored, "evaluation": evaluation}


def _metrics(path: str, model: str) -> dict:
    """Slice key -> metric name -> value (bounds dropped)."""
    found = {}
    for key, outputs in tfma.load_eval_result(path, model_name=model).slicing_metrics:
        found[key] = {name: value.get("boundedValue", value).get("value", value.get("doubleValue"))
                      for name, value in outputs[""][""].items()}
    return found


def _bucket_share(labels: np.ndarray, predictions: np.ndarray) -> float:
    """The share of (click, non-click) pairs whose predictions fall in the same 1/10,000 bucket."""
    buckets = np.floor(predictions * 10_000).astype(np.int64)
    clicks = np.bincount(buckets[labels == 1], minlength=10_001)
    others = np.bincount(buckets[labels == 0], minlength=10_001)
    return float(np.sum(clicks * others) / (clicks.sum() * others.sum()))


def _tolerance(name: str, labels: np.ndarray, own: np.ndarray, other: np.ndarray) -> float:
    """How far TFMA's value may be from the exact one: `own` is the model's predictions, `other`
    the model a change is measured against."""
    base = name.removesuffix("_diff")
    share = _bucket_share(labels, own) + (_bucket_share(labels, other) if name.endswith("_diff") else 0)
    if base == AUC:
        return share + 1e-9
    if base == AUC_PR:
        # TFMA interpolates precision between its thresholds; ours is the exact step (average precision).
        return 5 * share + 2 / labels.sum()
    return FLOAT32


def test_every_metric_exported_agrees_with_stock_tfma(runs):
    scored = runs["scored"]
    rows = gate.slice_rows(scored, SETTINGS)
    keys = {key: mask for key, mask in rows.values()}
    compared = 0
    for model in (CANDIDATE, BASELINE):
        ours, stock = _metrics(runs["ours"], model), _metrics(runs["stock"], model)
        assert set(ours) == set(stock)
        for key, metrics in ours.items():
            only_ours = set(metrics) - set(stock[key])
            assert only_ours <= set(tfma_export.NOT_TFMA) | {f"{n}_diff" for n in tfma_export.NOT_TFMA}, only_ours
            mask = keys[key]
            labels = scored.labels[mask]
            other = BASELINE if model == CANDIDATE else CANDIDATE
            for name in set(metrics) & set(stock[key]):
                tolerance = _tolerance(name, labels, scored.predictions[model][mask], scored.predictions[other][mask])
                assert metrics[name] == pytest.approx(stock[key][name], abs=tolerance, rel=FLOAT32), (model, key, name)
                compared += 1
    # 1 + 3 + 6 slices; each model's 6 metrics and the candidate's 6 changes, plus AUC-PR overall
    # (the gate computes it for the overall slice only).
    assert compared == 10 * (6 + 6 + 6) + 3


def test_plots_agree_with_stock_tfma(runs):
    for model in (CANDIDATE, BASELINE):
        ours = dict(tfma.load_eval_result(runs["ours"], model_name=model).plots)
        stock = dict(tfma.load_eval_result(runs["stock"], model_name=model).plots)
        assert set(ours) == set(stock)
        for key, plots in ours.items():
            ours_matrices = plots[""][""]["confusionMatrixAtThresholds"]["matrices"]
            stock_matrices = stock[key][""][""]["confusionMatrixAtThresholds"]["matrices"]
            counts = ("truePositives", "falsePositives", "trueNegatives", "falseNegatives")
            assert [[m.get(c, 0) for c in counts] for m in ours_matrices] == [
                [m.get(c, 0) for c in counts] for m in stock_matrices]
            ours_buckets = plots[""][""]["calibrationHistogramBuckets"]["buckets"]
            stock_buckets = stock[key][""][""]["calibrationHistogramBuckets"]["buckets"]
            assert [b.get("numWeightedExamples", 0) for b in ours_buckets] == [
                b.get("numWeightedExamples", 0) for b in stock_buckets]
            assert [b.get("totalWeightedRefinedPrediction", 0) for b in ours_buckets] == pytest.approx(
                [b.get("totalWeightedRefinedPrediction", 0) for b in stock_buckets], rel=FLOAT32, abs=FLOAT32)


def test_stock_tfma_refuses_a_folder_without_an_exported_config(tmp_path):
    with pytest.raises(FileNotFoundError, match="no exported eval_config.json"):
        stock_tfma.run(str(tmp_path), str(tmp_path / "out"))


def test_stock_tfma_reaches_the_same_verdict_from_the_exported_thresholds(runs):
    evaluation = runs["evaluation"]
    stock = tfma.load_validation_result(runs["stock"])

    # Production is wrong on mobile, so the candidate is far better: both pass it.
    assert evaluation.validation_ok and stock.validation_ok, json.dumps(
        json_format.MessageToDict(stock), indent=1)[:2000]
