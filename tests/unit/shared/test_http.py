"""shared.http: a request body schema with its definitions written in place
(`inline_schema`); what a hardened app's 422 echoes of the refused input (`harden`)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel, Field

from shared.http import ECHO_CHARS, ECHO_ITEMS, harden, inline_schema


class Part(BaseModel):
    name: str


class Whole(BaseModel):
    first: Part
    others: list[Part] = []
    maybe: Part | None = None


class Node(BaseModel):
    children: list[Node] = []


def test_definitions_are_written_where_they_are_used() -> None:
    schema = inline_schema(Whole)
    assert "$ref" not in json.dumps(schema)
    assert "$defs" not in schema
    assert schema["properties"]["first"]["properties"]["name"]["type"] == "string"
    assert schema["properties"]["others"]["items"]["required"] == ["name"]
    [part, null] = schema["properties"]["maybe"]["anyOf"]
    assert (part["title"], null) == ("Part", {"type": "null"})


def test_a_recursive_model_is_refused() -> None:
    with pytest.raises(ValueError, match="recursive"):
        inline_schema(Node)


# -- what a 422 echoes (harden) ------------------------------------------------------------------


class Absence(BaseModel):
    start: str
    end: str


class Body(BaseModel):
    name: Annotated[str, Field(max_length=200)]
    absences: Annotated[list[Absence], Field(max_length=100)] = []


def _hardened() -> FastAPI:
    app = FastAPI()

    @app.post("/things")
    async def things(body: Body) -> dict[str, str]:
        return {"name": body.name}

    return harden(app)


async def _post(body: Any) -> httpx.Response:
    transport = httpx.ASGITransport(app=_hardened())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.post("/things", json=body)


async def test_a_422_echoes_a_long_string_shortened() -> None:
    r = await _post({"name": "n" * 5_000_000})
    assert r.status_code == 422
    [issue] = r.json()["detail"]
    assert (issue["loc"], issue["type"]) == (["body", "name"], "string_too_long")
    assert issue["input"] == "n" * ECHO_CHARS + "... (5000000 characters)"
    assert len(r.content) < 2_000


async def test_a_422_echoes_a_long_list_shortened() -> None:
    absence = {"start": "2026-01-01", "end": "2026-01-02"}
    r = await _post({"name": "Carl", "absences": [absence] * 10_000})
    assert r.status_code == 422
    [issue] = r.json()["detail"]
    assert (issue["loc"], issue["type"]) == (["body", "absences"], "too_long")
    assert issue["input"] == [absence] * ECHO_ITEMS + [f"... {10_000 - ECHO_ITEMS} more items"]
    assert len(r.content) < 2_000


async def test_a_422_echoes_a_wide_deep_input_within_its_budget() -> None:
    wide = {f"k{i}": [[{"x": "y" * 300}] * 12] * 12 for i in range(30)}
    r = await _post(wide)  # no name: the whole body is the input of `missing`
    assert r.status_code == 422
    [issue] = r.json()["detail"]
    assert issue["loc"] == ["body", "name"]
    assert issue["input"]["..."] == f"{30 - ECHO_ITEMS} more keys"
    assert len(r.content) < 100_000  # of 1.3 MB


async def test_a_422_echoes_a_small_input_as_it_came() -> None:
    r = await _post({"name": "Carl", "absences": [{"start": "2026-01-01"}]})
    assert r.status_code == 422
    [issue] = r.json()["detail"]
    assert issue["loc"] == ["body", "absences", 0, "end"]
    r = await _post({"name": ["not", "a", "string"]})
    assert r.json()["detail"][0]["input"] == ["not", "a", "string"]
