"""Staff tokens: signed JWTs carrying a role, a tenant (dealer group) and dealerships.

The algorithm is fixed here, never read from the token, and `exp`, `iat`, `aud` and `iss` are
required: PyJWT only checks `exp` when the token happens to carry it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

import jwt
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.settings import CommonSettings

Role = Literal["admin", "manager", "agent", "consultant"]
ALGORITHM = "HS256"


class AuthError(Exception):
    """The token is missing, malformed, expired or not for us."""


class StaffClaims(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    sub: str = Field(min_length=1)
    role: Role
    tenant: str = Field(min_length=1)
    # Empty for an admin means every dealership of the tenant; others see only those listed.
    dealerships: tuple[str, ...] = ()

    def can_access(self, tenant_id: str, dealership_id: str | None = None) -> bool:
        if tenant_id != self.tenant:
            return False
        if dealership_id is None or (self.role == "admin" and not self.dealerships):
            return True
        return dealership_id in self.dealerships


def issue_token(
    settings: CommonSettings,
    *,
    subject: str,
    role: Role,
    tenant: str,
    dealerships: tuple[str, ...] | list[str] = (),
    ttl: timedelta = timedelta(hours=8),
    now: datetime | None = None,
) -> str:
    issued = now or datetime.now(UTC)
    claims = StaffClaims(sub=subject, role=role, tenant=tenant, dealerships=tuple(dealerships))
    payload = claims.model_dump(mode="json") | {
        "iat": int(issued.timestamp()),
        "exp": int((issued + ttl).timestamp()),
        "aud": settings.jwt_audience,
        "iss": settings.jwt_issuer,
    }
    return jwt.encode(payload, settings.jwt_secret.get_secret_value(), algorithm=ALGORITHM)


def verify_token(settings: CommonSettings, token: str) -> StaffClaims:
    try:
        payload = jwt.decode(
            token,
            settings.jwt_secret.get_secret_value(),
            algorithms=[ALGORITHM],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": ["exp", "iat", "aud", "iss", "sub"]},
        )
        return StaffClaims.model_validate(payload)
    except (jwt.PyJWTError, ValidationError) as exc:
        raise AuthError(str(exc).splitlines()[0]) from exc
