"""The creatives benchmark's run order, its table of every run and its preparation timing."""

from __future__ import annotations

import io

from PIL import Image

from benchmarks.creatives_bench import measure_prepare, run_order, runs_table


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


def test_preparation_is_timed_per_creative_in_each_world_in_abba_order(tmp_path):
    folders = {}
    for world, (size, kind) in {"icons": ((64, 64), "PNG"), "banners": ((300, 250), "JPEG")}.items():
        folders[world] = tmp_path / world
        (folders[world] / "creatives").mkdir(parents=True)
        for number in range(3):
            buffer = io.BytesIO()
            Image.new("RGB", size, (number * 80, 40, 200)).save(buffer, kind)
            (folders[world] / "creatives" / f"ad-{number}.{kind.lower()}").write_bytes(buffer.getvalue())
    result = measure_prepare(folders, 2)
    assert [run["world"] for run in result["runs"]] == ["icons", "banners", "banners", "icons"]
    assert all(run["wall_us"] > 0 and run["cpu_us"] > 0 for run in result["runs"])
    walls = [run["wall_us"] for run in result["runs"] if run["world"] == "banners"]
    assert result["banners"]["wall_us"] == round(sum(walls) / 2, 1)
