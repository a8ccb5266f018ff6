"""The base of every config section, apart from `config.py` so that the section models of
other modules (`curate/near_dup_config.py`, `curate/decontam_config.py`) can use it and
`config.py` can still import them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """Base for config sections: unknown keys are errors, so typos do not pass silently."""

    model_config = ConfigDict(extra="forbid")
