"""The creatives benchmark's run order and its table of every run."""

from __future__ import annotations

from benchmarks.creatives_bench import run_order, runs_table


def test_rounds_alternate_the_order_so_a_drifting_load_weighs_on_both_worlds():
    assert run_order(1) == ["icons", "banners"]
    assert run_order(2) == ["icons", "banners", "banners", "icons"]
    assert run_order(3)[4:] == ["icons", "banners"]


def test_the_ratio_is_of_each_worlds_summed_runs():
    stages = {"IngestImpressions": 1.0, "TrainModel": 2.0}
    runs = [{"world": "icons", "wall_s": 100.0, "stages_s": stages},
            {"world": "banners", "wall_s": 130.0, "stages_s": stages},
            {"world": "banners", "wall_s": 110.0, "stages_s": stages},
            {"world": "icons", "wall_s": 100.0, "stages_s": stages}]
    printed = runs_table(runs)
    assert printed.splitlines()[2].startswith("| 1 | icons | 100.0 | 1.0 |")
    assert printed.splitlines()[5].startswith("| 4 | icons | 100.0 |")
    assert "| sum | banners | 240.0 | 2.0 | 0 | 0 | 4.0 | 0 |" in printed.splitlines()
    assert "| ratio | banners / icons | 1.20x | 1.00x |  |  | 1.00x |  |" in printed.splitlines()
    assert printed.endswith("240.0 / 200.0 s = **1.20x**")
