"""The command line's grammar: one flag style per command, both spellings accepted, suggestions."""

from __future__ import annotations

import argparse
import re
from importlib.metadata import version
from pathlib import Path

import pytest

from pipeline.cli import build_parser, main
from pipeline.cli.common import EXIT_USAGE
from pipeline.cli.parsing import did_you_mean

REPO = Path(__file__).resolve().parents[3]


def leaf_parsers(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """Every command that runs something, as (words after `clickpipe`, its parser)."""
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not actions:
        yield path, parser
    for action in actions:
        for name, child in action.choices.items():
            yield from leaf_parsers(child, (*path, name))


def long_flags(parser: argparse.ArgumentParser) -> list[str]:
    return [s for a in parser._actions for s in a.option_strings if s.startswith("--") and s != "--help"]


def usage_error(capsys, argv: list[str]) -> str:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == EXIT_USAGE
    return capsys.readouterr().err


def test_serve_has_tf_servings_underscores_and_every_other_command_hyphens():
    for path, parser in leaf_parsers(build_parser()):
        for flag in long_flags(parser):
            if path == ("serve",):
                assert "-" not in flag[2:], flag
            else:
                assert "_" not in flag, (path, flag)


@pytest.mark.parametrize(
    ("argv", "dest", "value"),
    [
        (["models", "list", "--model_base_path", "m"], "model_base_path", "m"),
        (["models", "list", "--model-base-path=m"], "model_base_path", "m"),
        (["serve", "--model-base-path", "m"], "model_base_path", "m"),
        (["serve", "--rest-api-port=0"], "rest_api_port", 0),
        (["predict", "--csv_row", "a,b"], "csv_row", "a,b"),
        (["predict", "--json", "{}", "--rest_url=http://h:1"], "rest_url", "http://h:1"),
        (["run", "--ground_truth", "g"], "ground_truth", "g"),
        (["kfp", "runs", "--existing_token_file", "t"], "existing_token_file", "t"),
    ],
)
def test_the_other_spelling_of_a_flag_is_accepted(argv, dest, value):
    assert getattr(build_parser().parse_args(argv), dest) == value


def test_help_lists_only_the_commands_own_spelling(capsys):
    with pytest.raises(SystemExit):
        main(["models", "list", "--help"])
    out = capsys.readouterr().out
    assert "--model-base-path" in out and "--model_base_path" not in out


def test_a_misspelt_flag_is_named_with_its_command_and_the_closest_flag(capsys):
    err = usage_error(capsys, ["models", "list", "--model-bas-path", "m"])

    assert err.startswith("usage: clickpipe models list")
    assert err.splitlines()[-1] == (
        "clickpipe models list: error: unknown flag --model-bas-path (did you mean --model-base-path?)"
    )


def test_a_misspelt_serve_flag_is_matched_in_either_spelling(capsys):
    err = usage_error(capsys, ["serve", "--rest-api-prot=1"])

    assert "unknown flag --rest-api-prot (did you mean --rest_api_port?)" in err


def test_a_misspelt_command_gets_the_closest_command(capsys):
    err = usage_error(capsys, ["serv"])

    assert "clickpipe: error: unknown command 'serv' (did you mean serve?); choose from run, demo" in err
    assert "did you mean list" in usage_error(capsys, ["models", "lst"])


def test_a_flag_far_from_every_flag_gets_no_guess(capsys):
    err = usage_error(capsys, ["models", "list", "--zzz"])

    assert err.splitlines()[-1] == "clickpipe models list: error: unknown flag --zzz"


def test_an_unsupported_tf_serving_flag_says_so(capsys):
    err = usage_error(capsys, ["serve", "--ssl_config_file=ssl.config"])

    assert "--ssl_config_file is a TF Serving flag that clickpipe serve does not implement" in err


def test_version_needs_no_command(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])

    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"clickpipe {version('clickpipe')}\n"


@pytest.mark.parametrize(
    ("word", "candidates", "hint"),
    [
        ("--model_base_pth", ["--model-base-path", "--home"], " (did you mean --model-base-path?)"),
        ("epoch", ["epochs", "batch_size"], " (did you mean epochs?)"),
        ("zzz", ["epochs"], ""),
    ],
)
def test_did_you_mean(word, candidates, hint):
    assert did_you_mean(word, candidates) == hint


def test_every_flag_is_documented():
    """docs/cli.md lists every command's flags; serve's are in the Flags table of docs/serving.md."""
    cli_doc = (REPO / "docs" / "cli.md").read_text()
    serving_doc = (REPO / "docs" / "serving.md").read_text()
    missing = [
        f"clickpipe {' '.join(path)} {flag}"
        for path, parser in leaf_parsers(build_parser())
        for flag in long_flags(parser)
        if not re.search(rf"{re.escape(flag)}(?![\w-])", serving_doc if path == ("serve",) else cli_doc)
    ]
    assert missing == []
