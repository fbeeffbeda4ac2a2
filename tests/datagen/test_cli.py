"""`clickpipe data generate`: it writes and reports, and bad arguments get one clear line."""

from __future__ import annotations

import pytest

from datagen.settings import GeneratorSettings
from pipeline.cli import main


def test_generate_writes_the_months_and_prints_a_summary(tmp_path, capsys):
    out = tmp_path / "data"
    code = main(["data", "generate", "--months", "2026-09,2026-10", "--impressions", "3000",
                 "--out", str(out), "--seed", "2", "--base-ctr", "0.04",
                 "--drift", "2026-10:ctr_multiplier=1.5,new_value_fraction=0.2"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "2026-09    3000 rows" in printed
    assert "configured 6.00%" in printed
    assert "drift: ctr_multiplier=1.5, new_value_fraction=0.2" in printed
    for month in ("2026-09", "2026-10"):
        assert (out / "impressions" / month / "impressions-00000-of-00001.csv").is_file()
        assert (out / "ground_truth" / month / "ground_truth.csv").is_file()
    # The evergreen ads, and those launched in each month from 2026-07 (running until 2026-09) to 2026-10.
    settings = GeneratorSettings()
    assert len(list((out / "creatives").glob("*.png"))) == settings.n_ads + 4 * settings.new_ads_per_month


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--months", "2026-13"], "--months: '2026-13' is not a month like 2026-09"),
        (["--months", "2026-9"], "is not a month like 2026-09"),
        (["--months", "2026-09", "--impressions", "0"], "--impressions must be at least 1"),
        (["--months", "2026-09", "--impressions", "-5"], "--impressions must be at least 1"),
        (["--months", "2026-09", "--impressions", "many"], "--impressions needs a whole number"),
        (["--months", "2026-09", "--seed", "-1"], "--seed must be at least 0"),
        (["--months", "2026-09", "--base-ctr", "0.9"], "--base-ctr must be between 0 and 0.5"),
        (["--months", "2026-09", "--drift", "2026-10:ctr_multiplier=2"], "not in --months"),
        (["--months", "2026-09", "--drift", "2026-09:speed=2"], "unknown drift key 'speed'"),
        (["--months", "2026-09", "--creative-size", "300x250x3"], "--creative-size needs W or WxH"),
        (["--months", "2026-09", "--creative-size", "300x8"], "--creative-size must be at least 16"),
        (["--months", "2026-09", "--creative-size", "600x250"], "--creative-size must be at most 512x512"),
        (["--months", "2026-09", "--ads", "0"], "--ads must be at least 1"),
        (["--months", "2026-09", "--jpeg-quality", "99"], "--jpeg-quality must be at most 95"),
        (["--months", "2026-09", "--drift", "2026-09"], "write MONTH:KEY=VALUE"),
        (["--months", "2026-09", "--drift", "2026-09:retype_column=site"], "retype_column"),
    ],
)
def test_bad_arguments_give_one_line_and_exit_1(tmp_path, capsys, arguments, message):
    out = tmp_path / "data"
    code = main(["data", "generate", "--out", str(out), *arguments])
    error = capsys.readouterr().err
    assert code == 1
    assert error.startswith("clickpipe: ") and message in error
    assert error.count("\n") == 1
    assert not out.exists()


def test_an_output_that_cannot_be_a_folder_is_a_clear_error(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code = main(["data", "generate", "--months", "2026-09", "--impressions", "10",
                 "--out", str(blocker)])
    error = capsys.readouterr().err
    assert code == 1
    assert error.startswith(f"clickpipe: cannot write {blocker}") and error.count("\n") == 1


def test_a_folder_of_another_seed_is_refused(tmp_path, capsys):
    arguments = ["data", "generate", "--months", "2026-09", "--impressions", "10",
                 "--out", str(tmp_path)]
    assert main(arguments) == 0
    assert "best achievable AUC n/a (one class)" in capsys.readouterr().out
    assert main([*arguments, "--seed", "9"]) == 1
    assert "holds another dataset" in capsys.readouterr().err


def test_generate_writes_many_ads_as_jpeg_banners(tmp_path, capsys):
    from PIL import Image

    out = tmp_path / "banners"
    code = main(["data", "generate", "--months", "2026-09", "--impressions", "2000", "--out", str(out),
                 "--ads", "600", "--creative-size", "300x250", "--creative-format", "jpeg",
                 "--creative-texture", "photo"])
    assert code == 0
    assert "(jpeg, 300x250)" in capsys.readouterr().out
    banners = sorted((out / "creatives").glob("*.jpg"))
    launched = GeneratorSettings().new_ads_per_month * GeneratorSettings().ad_lifetime_months
    assert len(banners) == 600 + launched and not list((out / "creatives").glob("*.png"))
    with Image.open(banners[0]) as image:
        assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (300, 250))
    # Photo-sized: tens of KB, as the brief's banners.
    sizes = [path.stat().st_size for path in banners]
    assert 10_000 < sum(sizes) / len(sizes) < 40_000
