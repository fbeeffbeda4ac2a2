"""The `clickpipe` argument parser: argparse with both spellings of a flag and "did you mean".

Each command has one flag style (`serve` takes TF Serving's `--model_base_path`, every other
command `--model-base-path`); the other spelling is accepted everywhere without being listed in
`--help`. An unknown command, flag or choice is named with the closest known one, by the
command it was given to.
"""

from __future__ import annotations

import argparse
import difflib
from collections.abc import Callable, Iterable


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """The hint ` (did you mean X?)` for the closest candidate; empty when none is close.

    Hyphens and underscores count as the same character, so `--model_base_pth` finds
    `--model-base-path`.
    """
    by_form = {candidate.replace("_", "-"): candidate for candidate in candidates}
    close = difflib.get_close_matches(word.replace("_", "-"), list(by_form), n=1, cutoff=0.6)
    return f" (did you mean {by_form[close[0]]}?)" if close else ""


def _spellings(flag: str) -> tuple[str, ...]:
    """The hyphen and underscore spellings of a long flag, e.g. --model-base-path."""
    name = flag[2:]
    return ("--" + name.replace("_", "-"), "--" + name.replace("-", "_"))


class Parser(argparse.ArgumentParser):
    """An `argparse.ArgumentParser` (and, through `add_parser`, its subcommands) that accepts
    both spellings of a long flag and names the closest command or flag on a typo.

    Attributes:
        unsupported: flags of another tool this command knowingly lacks, flag → the message
            given when one is used (e.g. TF Serving flags `clickpipe serve` does not have).
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.unsupported: dict[str, str] = {}

    def _parse_optional(self, arg_string):
        return super()._parse_optional(self._known_spelling(arg_string))

    def _known_spelling(self, arg_string: str) -> str:
        """`arg_string` with its flag respelt as this parser knows it (value kept)."""
        if not arg_string.startswith("--") or arg_string == "--":
            return arg_string
        flag, equals, value = arg_string.partition("=")
        if flag in self._option_string_actions:
            return arg_string
        for spelling in _spellings(flag):
            if spelling in self._option_string_actions:
                return spelling + equals + value
        return arg_string

    def parse_known_args(self, args=None, namespace=None):
        # Unknown arguments are reported by the (sub)command they were given to, with its usage.
        namespace, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(self._unknown(extras))
        return namespace, extras

    def _unknown(self, extras: list[str]) -> str:
        first = extras[0]
        if not first.startswith("-"):
            return f"unexpected argument {first!r}"
        flag = first.partition("=")[0]
        for spelling in (flag, *_spellings(flag)):
            if spelling in self.unsupported:
                return self.unsupported[spelling]
        known = [s for s in self._option_string_actions if s.startswith("--")]
        return f"unknown flag {flag}" + did_you_mean(flag, known)

    def _check_value(self, action, value):
        if action.choices is not None and value not in action.choices:
            choices = ", ".join(map(str, action.choices))
            hint = did_you_mean(value, action.choices)
            if isinstance(action, argparse._SubParsersAction):
                raise argparse.ArgumentError(None, f"unknown command {value!r}{hint}; choose from {choices}")
            raise argparse.ArgumentError(action, f"invalid choice {value!r}{hint}; choose from {choices}")


class LazyVersion(argparse.Action):
    """`--version`: prints the text of `version()`, computed only when asked, and exits."""

    def __init__(self, option_strings, version: Callable[[], str], dest=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, nargs=0, default=argparse.SUPPRESS, help=help)
        self.version = version

    def __call__(self, parser, namespace, values, option_string=None):
        print(self.version())
        parser.exit()
