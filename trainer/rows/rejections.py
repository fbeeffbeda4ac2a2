"""Why a row is not model input: the reasons, the rejection, and its quarantine record."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass

UNPARSEABLE_LINE = "unparseable_line"
WRONG_COLUMN_COUNT = "wrong_column_count"
BAD_VALUE_TYPE = "bad_value_type"
MISSING_CREATIVE = "missing_creative"
UNDECODABLE_IMAGE = "undecodable_image"
# Every reason a row can be rejected for, in the order reports list them.
REASONS = (UNPARSEABLE_LINE, WRONG_COLUMN_COUNT, BAD_VALUE_TYPE, MISSING_CREATIVE, UNDECODABLE_IMAGE)

# A rejected value is quoted in the detail up to this many characters.
_SHOWN = 40


@dataclass(frozen=True)
class Rejected:
    """Why a row is not model input: quarantined at ingestion, refused when serving."""

    reason: str
    detail: str


def shown(text: str) -> str:
    """A rejected value as a detail quotes it: repr'd, cut after a few dozen characters."""
    return repr(text if len(text) <= _SHOWN else text[:_SHOWN] + "...")


class Refusals:
    """The rows of a column-wise check refused so far; the first refusal of a row names its reason.

    Args:
        size: the rows checked.
    """

    def __init__(self, size: int) -> None:
        import numpy as np

        self.bad = np.zeros(size, dtype=bool)
        self.rejected: dict[int, Rejected] = {}

    def refuse(self, mask, reason: str, detail: Callable[[int], str]) -> None:
        """Refuses the rows where `mask` (numpy or pyarrow booleans) is true, with
        `detail(row index)`, unless already refused."""
        import numpy as np

        if hasattr(mask, "to_numpy"):
            mask = mask.to_numpy(zero_copy_only=False)
        mask = np.asarray(mask, dtype=bool)
        for index in np.flatnonzero(mask & ~self.bad):
            self.rejected[int(index)] = Rejected(reason, detail(int(index)))
        self.bad[mask] = True

    def kept(self):
        """Indices of the rows not refused, as a numpy array."""
        import numpy as np

        return np.flatnonzero(~self.bad)


def quarantine_record(file: str, line_number: int, line: bytes, rejected: Rejected) -> str:
    """One JSON line for the quarantine: where the row was, why, and the row itself."""
    record = {
        "file": file,
        "line": line_number,
        "reason": rejected.reason,
        "detail": rejected.detail,
        "row": line.decode("utf-8", "backslashreplace"),
    }
    if rejected.reason == UNPARSEABLE_LINE:
        # Keep the exact bytes, since "row" may not round-trip.
        record["row_base64"] = base64.b64encode(line).decode("ascii")
    return json.dumps(record, ensure_ascii=False)
