"""FastAPI dependencies for staff tokens: 401 without a valid token, 403 for the wrong role.

The app keeps its `CommonSettings` in `app.state.common_settings` (every service's factory
does), so routers can be declared at module level.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.auth.tokens import AuthError, Role, StaffClaims, verify_token
from shared.settings import CommonSettings

A = TypeVar("A")

_bearer = HTTPBearer(
    auto_error=False,
    bearerFormat="JWT",
    description="a staff token (`forecourt-token issue --role ... --tenant ...`)",
)


def require_staff(*roles: Role) -> Callable[..., Awaitable[StaffClaims]]:
    """A dependency returning the caller's verified claims, for any of `roles` (all if none)."""

    async def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> StaffClaims:
        settings: CommonSettings = request.app.state.common_settings
        if credentials is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                detail="a staff bearer token is required",
                headers={"WWW-Authenticate": "Bearer"},
            )
        try:
            claims = verify_token(settings, credentials.credentials)
        except AuthError as exc:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                detail=f"invalid token: {exc}",
                headers={"WWW-Authenticate": "Bearer"},
            ) from exc
        if roles and claims.role not in roles:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"role {claims.role!r} may not do this (needs {', '.join(roles)})",
            )
        return claims

    return dependency


def staff_scope(claims: StaffClaims) -> tuple[str, tuple[str, ...] | None, bool]:
    """The caller's tenant, dealerships (None: every dealership of the tenant, for an admin
    whose token names none) and whether they manage (manager or admin)."""
    everywhere = claims.role == "admin" and not claims.dealerships
    dealerships = None if everywhere else claims.dealerships
    return claims.tenant, dealerships, claims.role in ("manager", "admin")


def staff_actor(build: Callable[[StaffClaims], A], *roles: Role) -> Callable[..., Awaitable[A]]:
    """A dependency returning `build(claims)` (the service's own actor) for a caller with any
    of `roles`: `Manager = Annotated[Actor, Depends(staff_actor(actor_of, "manager", "admin"))]`."""
    claims_of = require_staff(*roles)

    # A default, not Annotated: FastAPI reads this module's annotations as strings, and
    # `claims_of` is local.
    async def dependency(claims: StaffClaims = Depends(claims_of)) -> A:
        return build(claims)

    return dependency
