"""Every table of every domain, gathered for Alembic and the data-inventory check.

Import each domain's `models` here when the domain adds one.
"""

from __future__ import annotations

from amanat.audit import models as _audit  # noqa: F401
from amanat.comms import models as _comms  # noqa: F401
from amanat.core import keys as _core_keys  # noqa: F401  (registers master_key_canary)
from amanat.core.db import Base
from amanat.identity import models as _identity  # noqa: F401
from amanat.people import models as _people  # noqa: F401

metadata = Base.metadata
