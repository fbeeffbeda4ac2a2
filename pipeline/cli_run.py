"""`clickpipe run` and `clickpipe demo`."""


def register(commands, group) -> None:
    """Adds the run commands."""
