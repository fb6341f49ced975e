"""Response bodies of the API, one module per router, so ``/api/openapi.json`` says what each operation answers.

Each model holds exactly the keys its handler returns (``extra="forbid"``: a key a handler adds without
its model is a 500 the tests see, never a field silently dropped). Payloads that are open by nature (rule
parameters, a run's counts, model metrics) stay ``dict[str, Any]``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreatedOut(Out):
    """The id of what a POST created."""

    id: str
