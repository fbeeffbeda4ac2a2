"""`schema infer`'s proposal: TFDV inference shaped by the feature registry."""

from __future__ import annotations

from components.validate import checks, comparators, proposal
from pipeline import validation
from tests.components.validate.conftest import CLEAN, NEW_CATEGORY, PREVIOUS
from tests.components.validate.spans import span_statistics


def _features(schema) -> dict:
    return {f.name: f for f in schema.feature}


def test_proposal_describes_each_kind_of_feature(config, months):
    schema = proposal.propose_schema(span_statistics(months[PREVIOUS]), config.registry())
    features = _features(schema)
    registry = config.registry()

    assert list(schema.default_environment) == [comparators.TRAINING, comparators.SERVING]
    for name in (registry.label, registry.example_id, *registry.passthrough):
        assert list(features[name].not_in_environment) == [comparators.SERVING]
    assert features["device_type"].domain == "device_type"
    assert features["device_type"].distribution_constraints.min_domain_mass == proposal.MIN_DOMAIN_MASS
    assert features["campaign"].WhichOneof("domain_info") is None  # hashed: no vocabulary
    assert features["ad_title"].WhichOneof("domain_info") is None  # free text: no token statistics
    assert features["creative"].WhichOneof("domain_info") == "image_domain"
    # Observed never negative: min 0; no max, so a later month's larger value is not an anomaly.
    assert features["hour"].float_domain.min == 0 and not features["hour"].float_domain.HasField("max")
    assert features[registry.label].WhichOneof("domain_info") == "bool_domain"
    assert {d.name for d in schema.string_domain} == {
        f.domain for f in schema.feature if f.WhichOneof("domain_info") == "domain"
    }


def test_proposal_validates_the_span_it_came_from(config, months):
    statistics = span_statistics(months[PREVIOUS])
    schema = proposal.propose_schema(statistics, config.registry())

    verdict = checks.validate_span(
        PREVIOUS, span_statistics(months[PREVIOUS], schema), schema, validation.drift_comparators(config)
    )

    assert verdict.passed, checks.summary(verdict)


def test_compare_lists_new_domain_values_and_features(config, months, curated_schema):
    proposed = proposal.propose_schema(span_statistics(months[NEW_CATEGORY]), config.registry())

    changes = proposal.compare(proposed, curated_schema)

    assert "ad_category: 1 new domain value(s): crypto" in changes


def test_compare_of_the_same_schema_is_empty(curated_schema):
    assert proposal.compare(curated_schema, curated_schema) == []


def test_schema_text_parses_back_with_its_comment_header(config, months):
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    schema = proposal.propose_schema(span_statistics(months[CLEAN]), config.registry())
    text = proposal.schema_text(schema, CLEAN)

    assert text.startswith(f"# clickpipe schema proposal, inferred from the statistics of span {CLEAN}")
    assert text_format.Parse(text, schema_pb2.Schema()) == schema
