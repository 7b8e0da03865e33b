"""The base of every JSON input model: unknown fields are refused (ASVS V15.3.3) and text is
bounded before any field's own rule runs."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=1024)
