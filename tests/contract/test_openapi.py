"""The committed OpenAPI documents (docs/openapi/, `make docs`) hold together and say what the
services answer: every reference resolves, every refusal a route can give is documented with
its body. Schemathesis (tests/api/) checks the answers against them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from crm_queue.domain.policy import Policy
from crm_queue.entrypoints.http.schemas import PolicyIO
from scripts.catalogue import SERVICES
from tests.paths import REPO_ROOT

DOCS = {
    p.stem: json.loads(p.read_text()) for p in sorted((REPO_ROOT / "docs/openapi").glob("*.json"))
}
METHODS = {"get", "put", "post", "delete", "patch"}


def refs(node: Any, where: str = "#") -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield where, value
            else:
                yield from refs(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from refs(value, f"{where}/{i}")


def resolve(doc: dict[str, Any], pointer: str) -> Any:
    assert pointer.startswith("#/"), f"{pointer}: not a local reference"
    node: Any = doc
    for part in pointer[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"{pointer}: nothing at {part!r}"
        node = node[part]
    return node


def operations(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield f"{method.upper()} {path}", operation


def test_every_service_is_documented() -> None:
    assert sorted(DOCS) == sorted(service.name for service in SERVICES)


@pytest.mark.parametrize("service", sorted(DOCS))
def test_every_reference_resolves(service: str) -> None:
    doc = DOCS[service]
    found = list(refs(doc))
    assert found
    for where, pointer in found:
        assert resolve(doc, pointer) is not None, where


@pytest.mark.parametrize("service", sorted(DOCS))
def test_every_refusal_is_documented_with_its_body(service: str) -> None:
    doc = DOCS[service]
    schemes = doc["components"].get("securitySchemes", {})
    for name, operation in operations(doc):
        codes = operation["responses"]
        security = {s for requirement in operation.get("security", []) for s in requirement}
        expected = set()
        if security:
            expected.add("401")
        if any(schemes[s]["type"] == "http" for s in security):
            expected.add("403")  # staff tokens carry a role
        if "{" in name:
            expected.add("404")  # another tenant's id, or none
        if operation.get("parameters") or operation.get("requestBody"):
            expected.add("422")
        assert expected <= set(codes), (name, sorted(expected - set(codes)))
        for code, response in codes.items():
            if code.startswith(("4", "5")):
                schema = response.get("content", {}).get("application/json", {}).get("schema")
                assert schema, (name, code, "no body documented")
        # FastAPI's default 422 model is not what the services answer: they document theirs.
        assert "HTTPValidationError" not in json.dumps(codes), name


@pytest.mark.parametrize("service", sorted(DOCS))
def test_request_bodies_have_a_schema(service: str) -> None:
    for name, operation in operations(DOCS[service]):
        if "requestBody" in operation:
            [(media, content)] = operation["requestBody"]["content"].items()
            assert content.get("schema"), (name, media)


def test_the_policy_body_is_documented_as_the_service_reads_it() -> None:
    doc = DOCS["crm-queue"]
    body = doc["paths"]["/v1/dealerships/{dealership_id}/policy"]["put"]["requestBody"]
    schema = body["content"]["application/json"]["schema"]
    assert schema["required"] == ["hours"]  # `{}` is refused, as the document now says
    assert schema["additionalProperties"] is False
    assert schema["properties"]["hours"]["required"] == ["timezone"]
    # Its defaults are the domain's: with only `hours`, the rest is the default policy.
    hours = {"timezone": "UTC", "week": {"mon": [["09:00", "24:00"]]}}
    documented = PolicyIO.model_validate({"hours": hours}).model_dump(mode="json")
    read = Policy.from_json(documented).to_json()
    assert read == Policy.from_json({"hours": hours}).to_json()
    assert {k: v for k, v in read.items() if k != "hours"} == {
        k: v for k, v in Policy.default().to_json().items() if k != "hours"
    }
