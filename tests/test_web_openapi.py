"""The OpenAPI document says what every JSON operation answers: a 2xx response schema with named fields (or a
typed map), never an empty or any-object schema, so a client can be generated from /api/openapi.json."""

from __future__ import annotations

from typing import Any

import pytest

from cloud_aggregator.config import AggregatorConfig
from cloud_aggregator.store import open_store
from cloud_aggregator.web.app import create_app


@pytest.fixture(scope="module")
def doc(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    cfg = AggregatorConfig.model_validate({"store": {"backend": "sqlite",
                                                     "path": str(tmp_path_factory.mktemp("openapi") / "a.db")}})
    store = open_store(cfg.store)
    try:
        return create_app(store, cfg).openapi()
    finally:
        store.close()


def _open(schema: dict[str, Any], components: dict[str, Any]) -> bool:
    """Whether ``schema`` lets anything through: empty, an object without fields or value type, or made of one."""
    if "$ref" in schema:
        return _open(components[schema["$ref"].rsplit("/", 1)[-1]], components)
    branches = schema.get("anyOf") or schema.get("oneOf")
    if branches:
        return any(_open(b, components) for b in branches if b.get("type") != "null")
    if schema.get("type") == "array":
        return _open(schema.get("items", {}), components)
    if schema.get("type") == "object":
        extra = schema.get("additionalProperties")
        if not schema.get("properties"):
            return extra in (None, True, {}) or _open(extra, components)
        return False
    return not schema or "type" not in schema and "const" not in schema and "enum" not in schema


def json_operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(operation, status, its 2xx response) of every /api/ operation that answers JSON."""
    return [(f"{m.upper()} {p}", status, resp) for p, item in doc["paths"].items() if p.startswith("/api/")
            for m, op in item.items() for status, resp in op["responses"].items()
            if status.startswith("2") and "application/json" in resp.get("content", {})]


def test_every_json_operation_has_a_response_schema(doc: dict[str, Any]) -> None:
    comps = doc.get("components", {}).get("schemas", {})
    ops = json_operations(doc)
    assert len(ops) >= 30, "the API's JSON operations are listed"
    missing = [f"{op} {status}" for op, status, resp in ops
               if _open(resp["content"]["application/json"].get("schema", {}), comps)]
    assert not missing, f"no response schema: {missing}"


def test_streams_and_files_do_not_claim_json(doc: dict[str, Any]) -> None:
    assert list(doc["paths"]["/api/events"]["get"]["responses"]["200"]["content"]) == ["text/event-stream"]
    assert set(doc["paths"]["/api/reports/weekly"]["get"]["responses"]["200"]["content"]) == {"application/pdf",
                                                                                              "text/csv"}


def test_the_checker_refuses_open_schemas() -> None:
    comps = {"Row": {"type": "object", "properties": {"id": {"type": "string"}}}, "Any": {"type": "object"}}
    assert _open({}, comps) and _open({"type": "object", "additionalProperties": True}, comps)
    assert _open({"type": "array", "items": {"$ref": "#/components/schemas/Any"}}, comps)
    assert not _open({"type": "array", "items": {"$ref": "#/components/schemas/Row"}}, comps)
    assert not _open({"type": "object", "additionalProperties": {"type": "string"}}, comps)
    assert not _open({"anyOf": [{"$ref": "#/components/schemas/Row"}, {"type": "null"}]}, comps)
