"""The base of every config section: unknown keys are errors, so a misspelt key fails ``config check``."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


S = TypeVar("S", bound=Section)


def section_of(config: object, name: str, model: type[S]) -> S:
    """Section ``name`` of ``config``, validated when it is a plain dict, else the model's defaults: the web
    app and the CLIs also get configs without that section (None, test stand-ins)."""
    sec = getattr(config, name, None)
    if isinstance(sec, model):
        return sec
    if isinstance(sec, dict):
        return model.model_validate(sec)
    return model()
