"""A schema proposal from a span's statistics, shaped by the feature registry.

TFDV infers types, presence and value counts; the registry then says what each feature is:
categorical features get their observed values as a domain (unless hashed), numeric ones a
lower bound of 0 when no value was negative and no upper bound (a later month's larger value is
not an anomaly), text no domain, image features an image domain, and the label, example id
and passthrough columns are left out of the SERVING environment.
"""

from __future__ import annotations

from collections.abc import Mapping

from components.validate.comparators import SERVING, TRAINING
from trainer.features import FeatureRegistry, Kind

# New categorical values may take up to this share of a split before it is an anomaly.
MIN_DOMAIN_MASS = 0.99
MAX_DOMAIN_SIZE = 1000

HEADER = """\
# clickpipe schema proposal, inferred from the statistics of span {span}
# by `clickpipe schema infer {span}`. Review before checking it in (pipeline/schema/schema.pbtxt):
# - numeric features observed never negative get min 0 and no max (larger values stay valid);
#   others no range: add the bounds you know hold (e.g. max: 23 for an hour);
# - categorical domains are the values seen: new values above {mass_percent:g}% of a split are anomalies;
# - hashed categoricals, text and ids have no domain; the label, the example id and
#   passthrough columns are not expected in the SERVING environment.
"""


def _drop_domain(schema, feature) -> None:
    if feature.WhichOneof("domain_info") == "domain":
        name = feature.domain
        kept = [d for d in schema.string_domain if d.name != name]
        del schema.string_domain[:]
        schema.string_domain.extend(kept)
    feature.ClearField(feature.WhichOneof("domain_info") or "domain")


def _observed_range(statistics: Mapping[str, object], name: str) -> tuple[float, float] | None:
    lows, highs = [], []
    for stats in statistics.values():
        for feature in stats.datasets[0].features:
            if ".".join(feature.path.step) == name and feature.HasField("num_stats"):
                lows.append(feature.num_stats.min)
                highs.append(feature.num_stats.max)
    return (min(lows), max(highs)) if lows else None


def propose_schema(statistics: Mapping[str, object], registry: FeatureRegistry):
    """A Schema proto for data like these statistics.

    Args:
        statistics: per split, DatasetFeatureStatisticsList of one span (computed with or
            without a schema).
        registry: the feature registry of the config.

    Returns:
        The proposed tensorflow_metadata Schema proto.
    """
    import tensorflow_data_validation as tfdv
    from tensorflow_metadata.proto.v0 import schema_pb2

    splits = sorted(statistics, key=lambda s: (s != "train", s))
    schema = tfdv.infer_schema(statistics[splits[0]], infer_feature_shape=True, max_string_domain_size=MAX_DOMAIN_SIZE)
    for split in splits[1:]:
        schema = tfdv.update_schema(schema, statistics[split], max_string_domain_size=MAX_DOMAIN_SIZE)
    schema.default_environment[:] = [TRAINING, SERVING]
    kinds = {f.name: f for f in registry.features}
    training_only = {registry.label, registry.example_id, *registry.passthrough}
    for feature in schema.feature:
        spec = kinds.get(feature.name)
        if feature.name in training_only:
            feature.not_in_environment.append(SERVING)
        if feature.name == registry.label:
            if feature.WhichOneof("domain_info") != "bool_domain":
                _drop_domain(schema, feature)
                feature.int_domain.is_categorical = True
        elif spec is None or spec.kind is Kind.TEXT or (spec.kind is Kind.CATEGORICAL and spec.hash_buckets):
            # Free text gets no domain. A natural_language_domain would add TFDV's token
            # statistics, ~30% of ComputeStatistics, which no check of ours reads.
            _drop_domain(schema, feature)
        elif spec.kind is Kind.CATEGORICAL and feature.WhichOneof("domain_info") == "domain":
            feature.distribution_constraints.min_domain_mass = MIN_DOMAIN_MASS
        elif spec.kind is Kind.IMAGE:
            _drop_domain(schema, feature)
            feature.image_domain.SetInParent()
        elif spec.kind is Kind.NUMERIC:
            # The observed maximum is one month's; only the sign is taken as a rule.
            observed = _observed_range(statistics, feature.name)
            if observed and observed[0] >= 0 and feature.type == schema_pb2.FLOAT:
                feature.float_domain.min = 0
            elif observed and observed[0] >= 0 and feature.type == schema_pb2.INT:
                feature.int_domain.min = 0
    return schema


def schema_text(schema, span: str) -> str:
    """The proposal as a commented text proto."""
    from google.protobuf import text_format

    return HEADER.format(span=span, mass_percent=100 * (1 - MIN_DOMAIN_MASS)) + text_format.MessageToString(schema)


def compare(proposed, curated) -> list[str]:
    """What a person should look at: features added, removed or changed against `curated`."""
    old = {f.name: f for f in curated.feature}
    new = {f.name: f for f in proposed.feature}
    domains_old = {d.name: set(d.value) for d in curated.string_domain}
    domains_new = {d.name: set(d.value) for d in proposed.string_domain}
    changes = [f"new feature {name}" for name in sorted(set(new) - set(old))]
    changes += [f"feature {name} no longer present" for name in sorted(set(old) - set(new))]
    for name in sorted(set(old) & set(new)):
        before, after = old[name], new[name]
        if before.type != after.type:
            changes.append(f"{name}: type {before.type} -> {after.type}")
        added = domains_new.get(after.domain, set()) - domains_old.get(before.domain, set())
        if after.domain and added:
            shown = ", ".join(sorted(added)[:5]) + (" ..." if len(added) > 5 else "")
            changes.append(f"{name}: {len(added)} new domain value(s): {shown}")
    return changes
