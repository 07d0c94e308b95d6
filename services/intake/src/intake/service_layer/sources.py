"""Admin handlers: dealerships, lead sources and their API keys, tenant settings."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError

from intake.adapters.repository import SourceRow
from intake.adapters.tables import dealership, lead_source, source_api_key, tenant_config
from intake.domain.test_rules import TestLeadRules
from intake.service_layer.unit_of_work import IntakeUnitOfWork
from shared.auth import ApiKey, VerifiedKeyCache, generate_api_key, key_prefix, verify_api_key


class NotFound(LookupError):
    pass


class Conflict(ValueError):
    pass


async def create_dealership(
    uow: IntakeUnitOfWork, tenant_id: str, *, name: str, country: str, timezone: str
) -> dict[str, Any]:
    row = {
        "id": uuid4(),
        "tenant_id": tenant_id,
        "name": name,
        "country": country,
        "timezone": timezone,
    }
    try:
        await uow.session.execute(insert(dealership).values(**row))
        await uow.commit()
    except IntegrityError as exc:
        raise Conflict(f"a dealership named {name!r} exists already") from exc
    return row


async def list_dealerships(uow: IntakeUnitOfWork, tenant_id: str) -> list[dict[str, Any]]:
    rows = await uow.session.execute(
        select(dealership).where(dealership.c.tenant_id == tenant_id).order_by(dealership.c.name)
    )
    return [dict(r._mapping) for r in rows]


async def _add_key(uow: IntakeUnitOfWork, tenant_id: str, source_id: UUID) -> ApiKey:
    key = generate_api_key()
    await uow.session.execute(
        insert(source_api_key).values(
            id=uuid4(),
            source_id=source_id,
            tenant_id=tenant_id,
            prefix=key.prefix,
            key_hash=key.hash,
        )
    )
    return key


async def create_source(
    uow: IntakeUnitOfWork,
    tenant_id: str,
    *,
    dealership_id: UUID,
    name: str,
    kind: str,
    cost_per_lead: Decimal | None,
    currency: str | None,
) -> tuple[SourceRow, ApiKey]:
    countries = await uow.repo.dealership_places(tenant_id)
    if dealership_id not in countries:
        raise NotFound(f"dealership {dealership_id} not found")
    source_id = uuid4()
    try:
        await uow.session.execute(
            insert(lead_source).values(
                id=source_id,
                tenant_id=tenant_id,
                dealership_id=dealership_id,
                name=name,
                kind=kind,
                cost_per_lead=cost_per_lead,
                currency=currency,
            )
        )
        key = await _add_key(uow, tenant_id, source_id)
        await uow.commit()
    except IntegrityError as exc:
        raise Conflict(f"a source named {name!r} exists already") from exc
    source = await uow.repo.source(tenant_id, source_id)
    assert source is not None
    return source, key


async def _revoke_keys(uow: IntakeUnitOfWork, tenant_id: str, source_id: UUID) -> None:
    await uow.session.execute(
        update(source_api_key)
        .where(
            source_api_key.c.tenant_id == tenant_id,
            source_api_key.c.source_id == source_id,
            source_api_key.c.revoked_at.is_(None),
        )
        .values(revoked_at=func.now())
    )


async def rotate_key(uow: IntakeUnitOfWork, tenant_id: str, source_id: UUID) -> ApiKey:
    """A new key; every older key of the source stops working at once."""
    if await uow.repo.source(tenant_id, source_id) is None:
        raise NotFound(f"source {source_id} not found")
    await _revoke_keys(uow, tenant_id, source_id)
    key = await _add_key(uow, tenant_id, source_id)
    await uow.session.execute(
        update(lead_source)
        .where(lead_source.c.tenant_id == tenant_id, lead_source.c.id == source_id)
        .values(active=True)
    )
    await uow.commit()
    return key


async def revoke_source(uow: IntakeUnitOfWork, tenant_id: str, source_id: UUID) -> None:
    if await uow.repo.source(tenant_id, source_id) is None:
        raise NotFound(f"source {source_id} not found")
    await _revoke_keys(uow, tenant_id, source_id)
    await uow.session.execute(
        update(lead_source)
        .where(lead_source.c.tenant_id == tenant_id, lead_source.c.id == source_id)
        .values(active=False)
    )
    await uow.commit()


class SourceKeys:
    """Authenticates API keys, remembering the good ones for `ttl` seconds (see
    `shared.auth.key_cache`). Rotating or revoking through `forget` ends them here at once."""

    def __init__(self, uows: Callable[[], IntakeUnitOfWork], ttl: float) -> None:
        self._uows = uows
        self._cache: VerifiedKeyCache[SourceRow] = VerifiedKeyCache(ttl)

    async def authenticate(self, key: str) -> SourceRow | None:
        if (source := self._cache.get(key)) is not None:
            return source
        async with self._uows() as uow:
            source = await authenticate(uow, key)
        if source is not None:
            self._cache.put(key, source)
        return source

    def forget(self, source_id: UUID) -> None:
        self._cache.forget(id=source_id)


async def authenticate(uow: IntakeUnitOfWork, key: str) -> SourceRow | None:
    """The active source this key belongs to, or None (unknown, wrong or revoked key)."""
    prefix = key_prefix(key)
    if prefix is None:
        return None
    found = await uow.repo.source_by_key_prefix(prefix)
    if found is None:
        return None
    source, key_hash, revoked = found
    if revoked or not source.active or not verify_api_key(key, key_hash):
        return None
    return source


async def get_settings(uow: IntakeUnitOfWork, tenant_id: str) -> dict[str, Any]:
    days, rules = await uow.repo.tenant_config(tenant_id)
    test_rules = (
        TestLeadRules.model_validate(rules) if rules is not None else (TestLeadRules.default())
    )
    return {"dedup_window_days": days, "test_rules": test_rules}


async def put_settings(
    uow: IntakeUnitOfWork, tenant_id: str, *, dedup_window_days: int, test_rules: TestLeadRules
) -> None:
    values = {
        "dedup_window_days": dedup_window_days,
        "test_rules": test_rules.model_dump(mode="json"),
    }
    await uow.session.execute(
        pg_insert(tenant_config)
        .values(tenant_id=tenant_id, **values)
        .on_conflict_do_update(
            index_elements=[tenant_config.c.tenant_id], set_=values | {"updated_at": func.now()}
        )
    )
    await uow.commit()
