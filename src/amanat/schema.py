"""Every table of every domain, gathered for Alembic and the data-inventory check.

Import each domain's `models` here when the domain adds one.
"""

from __future__ import annotations

from amanat.core import keys as _core_keys  # noqa: F401  (registers master_key_canary)
from amanat.core.db import Base

metadata = Base.metadata
