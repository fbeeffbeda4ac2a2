"""Files a DoFn writes itself, safe when a distributed runner retries its bundle.

Flink, Dataflow and Spark re-execute a bundle whose worker failed, and may run a slow one twice.
Each attempt therefore writes under a folder of its own, ``<base>/.attempts/<attempt id>/``, and
only a finished attempt publishes its files by renaming them to their deterministic names. A
retry publishes the same bytes under the same names (no duplicate rows); a killed attempt
leaves only its own folder, which no reader globs and `drop_attempts` removes once the stage is
done (no half-written file is ever read).
"""

from __future__ import annotations

import os
import uuid

ATTEMPTS_FOLDER = ".attempts"


class Attempt:
    """One attempt at writing a bundle's files; `publish` makes them visible under their names."""

    def __init__(self) -> None:
        self.id = uuid.uuid4().hex
        self._staged: list[tuple[str, str]] = []
        self._folders: set[str] = set()

    def stage(self, base: str, name: str) -> str:
        """The path this attempt writes to for the file that `publish` names ``base/name``."""
        import tensorflow as tf

        folder = os.path.join(base, ATTEMPTS_FOLDER, self.id)
        staged = os.path.join(folder, name)
        tf.io.gfile.makedirs(os.path.dirname(staged))
        self._staged.append((staged, os.path.join(base, name)))
        self._folders.add(folder)
        return staged

    def publish(self) -> None:
        """Renames every staged file to its final name (replacing an earlier attempt's) and
        removes this attempt's folders. Call it after every staged file is closed."""
        import tensorflow as tf

        for staged, final in self._staged:
            # A file opened but never written to is never created (GFile creates on first write).
            if tf.io.gfile.exists(staged):
                tf.io.gfile.makedirs(os.path.dirname(final))
                tf.io.gfile.rename(staged, final, overwrite=True)
        for folder in self._folders:
            if tf.io.gfile.exists(folder):
                tf.io.gfile.rmtree(folder)


def drop_attempts(*bases: str) -> None:
    """Removes what killed attempts left under `bases` (call once every attempt has finished)."""
    import tensorflow as tf

    for base in bases:
        leftovers = os.path.join(base, ATTEMPTS_FOLDER)
        if tf.io.gfile.exists(leftovers):
            tf.io.gfile.rmtree(leftovers)
