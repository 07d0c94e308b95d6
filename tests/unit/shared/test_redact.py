"""Dead letters keep no secret header, and say which they lost."""

from __future__ import annotations

from shared.auth import generate_api_key
from shared.messaging.redact import REDACTED_HEADER, redact_headers


def test_credentials_go_and_a_hint_that_cannot_authenticate_stays() -> None:
    key = generate_api_key()
    headers = {
        "x-api-key": key.key,
        "authorization": "Bearer abc.def.ghi",
        "X-Client-Secret": "hunter2",
        "tenant_id": "acme",
        "x-delivery-count": 3,
    }
    redacted = redact_headers(headers)
    assert redacted["tenant_id"] == "acme"
    assert redacted["x-delivery-count"] == 3
    assert not {"x-api-key", "authorization", "X-Client-Secret"} & set(redacted)
    hint = redacted[REDACTED_HEADER]
    assert hint == (f"x-api-key=fck_{key.prefix}_…; authorization=Bearer …; X-Client-Secret=…")
    assert "hunter2" not in hint and "abc.def" not in hint


def test_a_key_that_is_not_ours_leaves_no_part_of_itself() -> None:
    assert redact_headers({"x-api-key": "sk_live_123456"})[REDACTED_HEADER] == "x-api-key=…"
    assert redact_headers({"x-api-key": b"raw-bytes"})[REDACTED_HEADER] == "x-api-key=…"


def test_configured_names_are_removed_too() -> None:
    redacted = redact_headers({"x-signature": "abc", "x-other": 1}, ["X-Signature"])
    assert redacted == {"x-other": 1, REDACTED_HEADER: "x-signature=…"}


def test_nothing_secret_nothing_added() -> None:
    headers = {"tenant_id": "acme", "x-forecourt-error": "bad token in body"}
    assert redact_headers(headers) == headers
