"""Commands of this area for the `clickpipe` CLI (see pipeline/cli.py)."""


def register(commands, group) -> None:
    """Adds this area's commands; none yet."""
