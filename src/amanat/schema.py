"""Every table of every domain, gathered for Alembic and the data-inventory check.

Import each domain's `models` here when the domain adds one. Two databases, two metadata:
`metadata` is the main database, `keystore_metadata` the key store (wrapped data keys).
"""

from __future__ import annotations

from amanat.activity import models as _activity  # noqa: F401
from amanat.audit import models as _audit  # noqa: F401
from amanat.comms import models as _comms  # noqa: F401
from amanat.core import keys as _core_keys  # noqa: F401  (registers master_key_canary)
from amanat.core.db import Base
from amanat.core.keystore import KeystoreBase
from amanat.identity import models as _identity  # noqa: F401
from amanat.people import models as _people  # noqa: F401

metadata = Base.metadata
keystore_metadata = KeystoreBase.metadata
