"""The HTML pages are self-contained and say what is wrong."""

from __future__ import annotations

import re

from components.validate import checks, report
from tests.components.validate.conftest import PREVIOUS, SHIFTED_PRICE


def _no_outside_resources(page: str) -> None:
    assert "<script" not in page
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert "@import" not in page


def test_statistics_page_shows_each_split_side_by_side_offline(month_statistics):
    current, previous = month_statistics[SHIFTED_PRICE], month_statistics[PREVIOUS]
    sections = [
        (f"Split {split}", [(f"{SHIFTED_PRICE} {split}", current[split].datasets[0]),
                            (f"{PREVIOUS} {split}", previous[split].datasets[0])])
        for split in ("train", "eval")
    ]

    page = report.statistics_page("Statistics", sections)

    _no_outside_resources(page)
    assert page.count("<h2>Split ") == 2
    assert f"{PREVIOUS} train" in page and f"{SHIFTED_PRICE} eval" in page
    assert page.count("<svg") == 2 * 3  # one histogram per numeric feature and split
    for name in ("bid_price", "ad_category", "creative", "clicked"):
        assert f"<b>{name}</b>" in page


def test_verdict_page_lists_problems_and_measurements():
    verdict = checks.Verdict(
        span="2026-10",
        against="2026-09",
        problems=[
            checks.Problem("bid_price", checks.DRIFT, "High drift", "details <here>", ["train"], "JSD 0.2 > 0.06")
        ],
        measurements=[
            checks.Measurement("bid_price", "train", "JENSEN_SHANNON_DIVERGENCE", 0.2, 0.06),
            checks.Measurement("site", "train", "L_INFTY", 0.01, 0.05),
        ],
    )

    page = report.verdict_page("Validation of span 2026-10", verdict)

    _no_outside_resources(page)
    assert "FAILED: 1 problem(s)" in page
    assert "details &lt;here&gt;" in page
    assert "approx. Jensen-Shannon divergence" in page
    assert page.count("<td class='bad'>over</td>") == 1
    assert page.count("<td class='ok'>ok</td>") == 1


def test_passing_verdict_page_says_so():
    page = report.verdict_page("Validation", checks.Verdict(span="2026-10", notes=["no previous span"]))

    assert "PASSED" in page and "no previous span" in page


def test_write_text_creates_the_folder(tmp_path):
    path = tmp_path / "reports" / "2026-10" / "page.html"

    report.write_text(str(path), "<p>x</p>")

    assert path.read_text() == "<p>x</p>"


def test_statistics_page_shows_a_rare_new_value(month_statistics):
    from tests.components.validate.conftest import NEW_CATEGORY

    current, previous = month_statistics[NEW_CATEGORY]["train"], month_statistics[PREVIOUS]["train"]

    page = report.statistics_page("Statistics", [("Split train", [("now", current.datasets[0]),
                                                                   ("before", previous.datasets[0])])])

    assert "<td>crypto</td>" in page
