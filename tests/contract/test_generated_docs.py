"""The committed API documents are the code's: docs/asyncapi/ (the event catalogue outside
subscribers read) and docs/openapi/ fail here when a consumer, a published event or a route
changed without `make docs`. The same comparison as `make docs-check`, inside `make test`."""

from __future__ import annotations

import json

import pytest

from scripts.catalogue import SERVICES, Service
from scripts.export_asyncapi import OUT_DIR as ASYNCAPI_DIR
from scripts.export_asyncapi import asyncapi
from scripts.export_openapi import OUT_DIR as OPENAPI_DIR
from scripts.export_openapi import openapi
from shared.contracts.registry import REGISTRY

MAKE_DOCS = "out of date: run `make docs` and commit docs/asyncapi and docs/openapi"


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_committed_asyncapi_matches_the_code(service: Service) -> None:
    committed = (ASYNCAPI_DIR / f"{service.name}.json").read_text(encoding="utf-8")
    assert committed == asyncapi(service), MAKE_DOCS


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_committed_openapi_matches_the_code(service: Service) -> None:
    committed = (OPENAPI_DIR / f"{service.name}.json").read_text(encoding="utf-8")
    assert committed == openapi(service), MAKE_DOCS


def test_no_stale_documents() -> None:
    names = {f"{s.name}.json" for s in SERVICES}
    assert {p.name for p in ASYNCAPI_DIR.glob("*.json")} == names
    assert {p.name for p in OPENAPI_DIR.glob("*.json")} == names


def test_every_event_is_in_the_catalogue() -> None:
    """Each registered event is published by a service, so the AsyncAPI catalogue lists it
    with its envelope schema: a subscriber finds every routing key there."""
    published = {key for s in SERVICES for key in s.publishes}
    assert published == {cls.routing_key() for cls in REGISTRY.values()}
    sent = set()
    for path in ASYNCAPI_DIR.glob("*.json"):
        doc = json.loads(path.read_text(encoding="utf-8"))
        for operation in doc["operations"].values():
            if operation["action"] == "send":
                channel = doc["channels"][operation["channel"]["$ref"].rsplit("/", 1)[-1]]
                assert channel["bindings"]["amqp"]["exchange"]["name"] == "forecourt.events"
                sent.add(channel["address"])
    assert sent == published
