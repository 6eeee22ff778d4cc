"""The base of every params.yaml section model: frozen, and unknown keys refused."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    # extra="forbid" turns a typo such as `epoch:` into an error instead of a silent default.
    model_config = ConfigDict(extra="forbid", frozen=True)
