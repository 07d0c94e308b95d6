"""shared.http.inline_schema: a request body schema with its definitions written in place."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel

from shared.http import inline_schema


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
