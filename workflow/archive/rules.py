"""What the archive feature implements for the engine: its job kind."""

from __future__ import annotations

from workflow.archive import building
from workflow.core.registry import Rules

RULES = Rules(jobs={building.KIND: building.archive_job})
