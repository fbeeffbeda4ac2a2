"""The label rules: a label column holding 0 or 1, or a label derived from other columns by the
registry's `LabelRule`."""

from __future__ import annotations

from collections.abc import Mapping

from trainer.features import FeatureRegistry, LabelRule
from trainer.rows.numbers import numbers
from trainer.rows.rejections import BAD_VALUE_TYPE, Refusals, shown

LABEL_VALUES = (0, 1)
# The label 0 or 1 written as an integer of at most 19 digits ("-0" and "+01" included).
_LABEL_PATTERN = r"^(?:[+-]?0{1,19}|\+?0{0,18}1)$"
_COMPARE = {">": "greater", ">=": "greater_equal", "<": "less", "<=": "less_equal", "==": "equal", "!=": "not_equal"}


def labels(registry: FeatureRegistry, columns: Mapping[str, list[str]], refusals: Refusals):
    """The rows' 0/1 labels (int64), by the registry's label rule or its label column; rows
    without a valid label are refused."""
    if registry.label_rule:
        return _derived_label(registry.label_rule, registry.label, columns, refusals)
    return _label_column(registry.label, columns[registry.label], refusals)


def _label_column(name: str, column: list[str], refusals: Refusals):
    """A label column's values, each the integer 0 or 1."""
    import pyarrow as pa
    import pyarrow.compute as pc

    label = pc.utf8_trim_whitespace(pa.array(column, pa.string()))
    valid = pc.match_substring_regex(label, _LABEL_PATTERN)
    refusals.refuse(
        pc.invert(valid),
        BAD_VALUE_TYPE,
        lambda i: f"{name}={shown(column[i])} is not 0 or 1",
    )
    return pc.cast(pc.ends_with(label, "1"), pa.int64())


def _derived_label(rule: LabelRule, name: str, columns: Mapping[str, list[str]], refusals: Refusals):
    """The 0/1 label `rule` computes, column-wise; rows where it cannot be computed are refused
    with a detail naming the label, the rule and the column."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def cannot(column: str, why: str):
        ending = f", so label {name} ({rule.describe()}) cannot be computed"
        return lambda i, c=columns[column]: f"{column}={shown(c[i])} {why}{ending}"

    compare = getattr(pc, _COMPARE[rule.op])
    if not rule.numeric:
        text = pc.utf8_trim_whitespace(pa.array(columns[rule.column], pa.string()))
        refusals.refuse(pc.equal(text, ""), BAD_VALUE_TYPE, cannot(rule.column, "is empty"))
        return pc.cast(compare(text, rule.value), pa.int64())
    sides = []
    for column in rule.columns:
        parsed, _, fits = numbers(pa.array(columns[column], pa.string()))
        refusals.refuse(pc.invert(fits), BAD_VALUE_TYPE, cannot(column, "is not a number"))
        sides.append(parsed)
    right = pc.multiply(sides[1], rule.times) if rule.right_column else rule.value
    return pc.cast(compare(sides[0], right), pa.int64())
