"""The gate's TFMA config: metrics, slices and thresholds from the project config."""

import json

import pytest
import tensorflow_model_analysis as tfma

from pipeline import eval_config
from pipeline.config import load_config


@pytest.fixture(scope="module")
def config():
    return load_config().with_overrides(
        evaluation={
            "min_auc": 0.65,
            "max_auc_drop": 0.002,
            "max_log_loss_increase": 0.01,
            "slice_thresholds": [
                {"slice": ["device_type"], "max_auc_drop": 0.005},
                {"slice": ["device_type", "slot_position"], "min_auc": 0.55},
            ],
        }
    )


def metric(built, name):
    configs = [m for spec in built.metrics_specs for m in spec.metrics]
    return next(m for m in configs if json.loads(m.config)["name"] == name)


def thresholds_by_slice(metric_config):
    return {tuple(t.slicing_specs[0].feature_keys): t.threshold for t in metric_config.per_slice_thresholds}


def test_models_are_the_serving_signature_with_the_registry_label(config):
    built = eval_config.build(config, has_baseline=True)

    candidate, baseline = built.model_specs
    assert (candidate.name, candidate.is_baseline) == ("candidate", False)
    assert (baseline.name, baseline.is_baseline) == ("baseline", True)
    for spec in built.model_specs:
        assert spec.signature_name == "serving_default"
        assert spec.label_key == config.dataset.label
        assert spec.prediction_key == "click_probability"


def test_metrics_and_plots_the_issue_asks_for(config):
    built = eval_config.build(config, has_baseline=True)

    names = {json.loads(m.config)["name"]: m.class_name for spec in built.metrics_specs for m in spec.metrics}
    assert names == {
        "example_count": "ExampleCount",
        "auc": "AUC",
        "auc_pr": "AUCPrecisionRecall",
        "binary_crossentropy": "BinaryCrossEntropy",
        "calibration": "Calibration",
        "mean_prediction": "MeanPrediction",
        "mean_label": "MeanLabel",
        "confusion_matrix_plot": "ConfusionMatrixPlot",
        "calibration_plot": "CalibrationPlot",
    }


def test_slices_are_overall_plus_every_configured_slice_including_the_crossed_one(config):
    built = eval_config.build(config, has_baseline=True)

    keys = [list(spec.feature_keys) for spec in built.slicing_specs]
    assert keys == [[], *config.dataset.slices]
    assert ["device_type", "slot_position"] in keys


def test_overall_thresholds_are_absolute_and_relative_to_production(config):
    built = eval_config.build(config, has_baseline=True)

    auc = thresholds_by_slice(metric(built, "auc"))[()]
    assert auc.value_threshold.lower_bound.value == pytest.approx(0.65)
    assert auc.change_threshold.direction == tfma.MetricDirection.HIGHER_IS_BETTER
    assert auc.change_threshold.absolute.value == pytest.approx(-0.002)
    log_loss = thresholds_by_slice(metric(built, "binary_crossentropy"))[()]
    assert log_loss.change_threshold.direction == tfma.MetricDirection.LOWER_IS_BETTER
    assert log_loss.change_threshold.absolute.value == pytest.approx(0.01)
    assert not log_loss.HasField("value_threshold")


def test_per_slice_thresholds_come_from_slice_thresholds(config):
    built = eval_config.build(config, has_baseline=True)

    by_slice = thresholds_by_slice(metric(built, "auc"))
    device = by_slice[("device_type",)]
    assert device.change_threshold.absolute.value == pytest.approx(-0.005)
    assert not device.HasField("value_threshold")
    crossed = by_slice[("device_type", "slot_position")]
    assert crossed.value_threshold.lower_bound.value == pytest.approx(0.55)
    assert not crossed.HasField("change_threshold")


def test_overall_threshold_applies_to_the_overall_slice_only(config):
    # A plain MetricConfig.threshold would apply to every slice, so none is set.
    built = eval_config.build(config, has_baseline=True)

    for spec in built.metrics_specs:
        for metric_config in spec.metrics:
            assert not metric_config.HasField("threshold")


def test_without_a_baseline_only_absolute_thresholds_remain(config):
    built = eval_config.build(config, has_baseline=False)

    assert len(built.model_specs) == 1
    assert not built.model_specs[0].is_baseline
    assert not tfma.utils.has_change_threshold(built)
    by_slice = thresholds_by_slice(metric(built, "auc"))
    assert set(by_slice) == {(), ("device_type", "slot_position")}
    assert by_slice[()].value_threshold.lower_bound.value == pytest.approx(0.65)
    assert not metric(built, "binary_crossentropy").per_slice_thresholds


def test_tfma_accepts_both_configs(config):
    for has_baseline in (True, False):
        built = tfma.utils.update_eval_config_with_defaults(
            eval_config.build(config, has_baseline), has_baseline=has_baseline
        )
        tfma.utils.verify_eval_config(built)
        assert tfma.metrics.metric_thresholds_from_metrics_specs(built.metrics_specs, eval_config=built)
