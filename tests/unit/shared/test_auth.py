from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from shared.auth import (
    AuthError,
    StaffClaims,
    generate_api_key,
    issue_token,
    key_prefix,
    verify_api_key,
    verify_token,
)
from shared.auth.cli import app
from shared.settings import CommonSettings

SETTINGS = CommonSettings(jwt_secret=SecretStr("unit-test-secret-unit-test-secret-!!"))


def test_issued_token_verifies_to_its_claims() -> None:
    token = issue_token(
        SETTINGS, subject="ana", role="agent", tenant="acme", dealerships=["d1", "d2"]
    )
    claims = verify_token(SETTINGS, token)
    assert claims == StaffClaims(sub="ana", role="agent", tenant="acme", dealerships=("d1", "d2"))


def test_expired_token_is_refused() -> None:
    past = datetime.now(UTC) - timedelta(days=1)
    token = issue_token(
        SETTINGS, subject="a", role="admin", tenant="t", ttl=timedelta(hours=1), now=past
    )
    with pytest.raises(AuthError, match="expired"):
        verify_token(SETTINGS, token)


@pytest.mark.parametrize("missing", ["exp", "iat", "aud", "iss"])
def test_token_without_a_required_claim_is_refused(missing: str) -> None:
    now = int(datetime.now(UTC).timestamp())
    payload = {
        "sub": "a",
        "role": "admin",
        "tenant": "t",
        "iat": now,
        "exp": now + 60,
        "aud": "forecourt",
        "iss": "forecourt",
    }
    del payload[missing]
    token = jwt.encode(payload, SETTINGS.jwt_secret.get_secret_value(), algorithm="HS256")
    with pytest.raises(AuthError):
        verify_token(SETTINGS, token)


def test_token_signed_with_another_key_or_alg_none_is_refused() -> None:
    other = CommonSettings(jwt_secret=SecretStr("another-secret-another-secret-!!!!"))
    with pytest.raises(AuthError):
        verify_token(SETTINGS, issue_token(other, subject="a", role="admin", tenant="t"))
    now = int(datetime.now(UTC).timestamp())
    unsigned = jwt.encode(
        {
            "sub": "a",
            "role": "admin",
            "tenant": "t",
            "iat": now,
            "exp": now + 60,
            "aud": "forecourt",
            "iss": "forecourt",
        },
        key=None,
        algorithm="none",
    )
    with pytest.raises(AuthError):
        verify_token(SETTINGS, unsigned)


def test_token_for_another_audience_is_refused() -> None:
    other = CommonSettings(jwt_secret=SETTINGS.jwt_secret, jwt_audience="someone-else")
    with pytest.raises(AuthError):
        verify_token(SETTINGS, issue_token(other, subject="a", role="admin", tenant="t"))


def test_dealership_scope() -> None:
    agent = StaffClaims(sub="a", role="agent", tenant="acme", dealerships=("d1",))
    admin = StaffClaims(sub="b", role="admin", tenant="acme")
    assert agent.can_access("acme", "d1")
    assert not agent.can_access("acme", "d2")
    assert not agent.can_access("other", "d1")
    assert admin.can_access("acme", "d9")
    assert not admin.can_access("other")


def test_api_key_is_stored_as_a_hash_and_verifies() -> None:
    key = generate_api_key()
    assert key.key not in key.hash
    assert key_prefix(key.key) == key.prefix
    assert verify_api_key(key.key, key.hash)
    assert not verify_api_key(key.key + "x", key.hash)
    assert key_prefix("not-a-key") is None


def test_cli_issues_a_token_the_services_accept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORECOURT_JWT_SECRET", SETTINGS.jwt_secret.get_secret_value())
    result = CliRunner().invoke(
        app, ["issue", "--role", "manager", "--tenant", "acme", "--dealership", "d1"]
    )
    assert result.exit_code == 0, result.output
    claims = verify_token(SETTINGS, result.output.strip())
    assert (claims.role, claims.tenant, claims.dealerships) == ("manager", "acme", ("d1",))
    bad = CliRunner().invoke(app, ["issue", "--role", "king", "--tenant", "acme"])
    assert bad.exit_code != 0
