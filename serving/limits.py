"""The in-flight request bytes budget, shared by REST and gRPC.

A request's memory grows with its size (a JSON body takes about 30 times its size as Python
objects), so the bytes of the requests being read and answered at once are capped: a request
waits for room, and is refused with RESOURCE_EXHAUSTED if none comes in time.
"""

from __future__ import annotations

import contextlib
import threading

from serving import errors


class ByteBudget:
    """At most `limit` request bytes in flight; thread-safe."""

    def __init__(self, limit: int):
        self.limit = limit
        self._in_use = 0
        self._room = threading.Condition()

    @contextlib.contextmanager
    def reserve(self, size: int, timeout: float | None):
        """Holds `size` bytes of the budget for the duration of a `with` block.

        Args:
            size: the request's bytes; at most `limit`.
            timeout: seconds to wait for room, or None to wait as long as it takes.

        Raises:
            ServingError: RESOURCE_EXHAUSTED when there is no room within `timeout`.
        """
        with self._room:
            if not self._room.wait_for(lambda: self._in_use + size <= self.limit, timeout):
                raise errors.resource_exhausted(
                    f"Too many request bytes in flight: {self._in_use} of at most {self.limit} "
                    f"are taken and this request needs {size}; try again later"
                )
            self._in_use += size
        try:
            yield
        finally:
            with self._room:
                self._in_use -= size
                self._room.notify_all()
