"""What the app holds for its lifetime: settings, database, key ring and metrics."""

from __future__ import annotations

from dataclasses import dataclass, field

from amanat.core.crypto import MasterKeyring
from amanat.core.db import Database
from amanat.core.errors import ServiceUnavailable
from amanat.core.settings import Settings
from amanat.web.metrics import Metrics


@dataclass
class AppState:
    settings: Settings
    database: Database | None = None
    keyring: MasterKeyring | None = None
    metrics: Metrics = field(default_factory=Metrics)

    def require_database(self) -> Database:
        if self.database is None:
            raise ServiceUnavailable("The database is not available yet.", code="not_ready")
        return self.database

    def require_keyring(self) -> MasterKeyring:
        if self.keyring is None:
            raise ServiceUnavailable("The key ring is not loaded yet.", code="not_ready")
        return self.keyring
