"""Errors with TF Serving's status codes, and how REST and gRPC show them.

TF Serving reports every failure as a `tensorflow::Status`: a canonical code plus a message.
gRPC sends the code as is; REST maps it to an HTTP status (`ToHTTPStatusCode` in TF Serving's
`http_server.cc`) and puts the message in `{"error": ...}`. We keep the same pairs so that a
client sees the same code and text from this server and from the official one.

Messages are cut at `MAX_MESSAGE_CHARS`: they may quote the request (a model name, a JSON
value), and neither a REST body nor a gRPC status should grow with what a client sent.
"""

from __future__ import annotations

import re

import grpc

# TF Serving's `ToHTTPStatusCode`, keyed by the canonical code.
_HTTP_STATUS = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
    grpc.StatusCode.UNAUTHENTICATED: 401,
}

_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}
MAX_MESSAGE_CHARS = 4096
_CUT_MARK = "... (truncated)"


def bounded(message: str) -> str:
    """`message`, cut to at most MAX_MESSAGE_CHARS characters."""
    if len(message) <= MAX_MESSAGE_CHARS:
        return message
    return message[: MAX_MESSAGE_CHARS - len(_CUT_MARK)] + _CUT_MARK


class ServingError(Exception):
    """A request or model failure with its canonical code, as TF Serving reports it."""

    def __init__(self, code: grpc.StatusCode, message: str):
        message = bounded(message)
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        """The HTTP status TF Serving's REST API answers with for this code."""
        return _HTTP_STATUS[self.code]

    @property
    def code_name(self) -> str:
        """The code's name as TF Serving writes it in statuses and metrics, e.g. `NOT_FOUND`."""
        return self.code.name

    def __repr__(self) -> str:
        return f"ServingError({self.code.name}, {self.message!r})"


def invalid_argument(message: str) -> ServingError:
    """INVALID_ARGUMENT (REST 400): the request is wrong."""
    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message)


def not_found(message: str) -> ServingError:
    """NOT_FOUND (REST 404): no such model, version or servable."""
    return ServingError(grpc.StatusCode.NOT_FOUND, message)


def failed_precondition(message: str) -> ServingError:
    """FAILED_PRECONDITION (REST 400): e.g. a missing signature or an unavailable label."""
    return ServingError(grpc.StatusCode.FAILED_PRECONDITION, message)


def resource_exhausted(message: str) -> ServingError:
    """RESOURCE_EXHAUSTED (REST 429): a server limit is reached (connections, request bytes)."""
    return ServingError(grpc.StatusCode.RESOURCE_EXHAUSTED, message)


def unavailable(message: str) -> ServingError:
    """UNAVAILABLE (REST 503): e.g. a full batching queue."""
    return ServingError(grpc.StatusCode.UNAVAILABLE, message)


def internal(message: str) -> ServingError:
    """INTERNAL (REST 500): a server-side fault."""
    return ServingError(grpc.StatusCode.INTERNAL, message)


def unknown(message: str) -> ServingError:
    """UNKNOWN (REST 500): a failure without a better code, e.g. a model that will not load."""
    return ServingError(grpc.StatusCode.UNKNOWN, message)


def data_loss(message: str) -> ServingError:
    """DATA_LOSS (REST 500): unreadable model files."""
    return ServingError(grpc.StatusCode.DATA_LOSS, message)


def unimplemented(message: str) -> ServingError:
    """UNIMPLEMENTED (REST 501): an API this server does not offer."""
    return ServingError(grpc.StatusCode.UNIMPLEMENTED, message)


def code_from_number(number: int) -> grpc.StatusCode:
    """The gRPC code for a TensorFlow/absl canonical code number (they share numbering)."""
    return _BY_NUMBER.get(number, grpc.StatusCode.UNKNOWN)


_EAGER_PREFIX = "Graph execution error:"
_STACK_MARKER = "<stack traces unavailable>\n"
_OP_SUFFIX = re.compile(r"\s*\[Op:[^\]]*\]\s*$")


def from_tensorflow(exc: Exception) -> ServingError:
    """A TensorFlow `OpError` as the `ServingError` TF Serving would report for it.

    Python's eager runtime wraps the kernel's message in "Graph execution error: Detected at
    node ..." and appends "[Op:...]"; TF Serving reports the kernel's message alone.
    """
    number = getattr(exc, "error_code", 2)
    message = getattr(exc, "message", None) or str(exc)
    if message.startswith(_EAGER_PREFIX):
        _, marker, kernel_message = message.partition(_STACK_MARKER)
        message = kernel_message if marker else message.removeprefix(_EAGER_PREFIX).lstrip()
    return ServingError(code_from_number(number), _OP_SUFFIX.sub("", message))
