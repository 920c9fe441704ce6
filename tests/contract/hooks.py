"""Schemathesis hooks of the contract tier (``hooks`` in ``schemathesis.toml``).

The demo data's rows have small ids, and generated ids are mostly 0 or large: each id of
a path is folded onto the demo's (1 to ``SPAN``), spread by the rest of the request, so
that most requests reach real rows (and their 200, 403, 409 and 422) instead of answering
404. The fold is arithmetic on the request itself: a run repeats the last one.
"""

from __future__ import annotations

import zlib
from typing import Any

import schemathesis

SPAN = 12  # most kinds of demo rows have ids up to this
SPANS = {"user_id": 19, "expert_id": 19}  # the demo's experts are its last users


@schemathesis.hook
def map_case(context: Any, case: Any) -> Any:
    params = case.path_parameters or {}
    spread = zlib.crc32(repr((case.query, case.body)).encode())
    for name, value in list(params.items()):
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            params[name] = 1 + (value + spread) % SPANS.get(name, SPAN)
    return case
