"""The forms of a span: month, TFX span number, window, "latest"."""

import pytest

from components import spans


def test_span_numbers_and_months():
    assert spans.month_of_span(202610) == "2026-10"
    assert spans.span_of_month("2026-01") == 202601
    with pytest.raises(ValueError, match="not a month"):
        spans.month_of_span(0)
    with pytest.raises(ValueError, match="not a month"):
        spans.month_of_span(202613)
    with pytest.raises(ValueError, match="not a month"):
        spans.span_of_month("2026/01")


@pytest.mark.parametrize("text", ["latest", "2026-10", "1999-12"])
def test_spans_a_run_accepts(text):
    assert spans.check_span(text) == text


@pytest.mark.parametrize("text", ["2026/10", "2026-13", "2026-00", "26-10", "2026-10 ", "Latest", ""])
def test_anything_else_is_refused_with_the_forms_it_takes(text):
    with pytest.raises(ValueError, match="use 'latest' or a month like 2026-10"):
        spans.check_span(text)


def test_windows_and_calendar_months():
    assert spans.window_months("2026-09,2026-10") == ["2026-09", "2026-10"]
    assert spans.window_months("") == []
    assert spans.previous_months("2027-02", 4) == ("2026-11", "2026-12", "2027-01", "2027-02")
