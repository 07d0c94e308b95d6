"""HTTP response and admin request bodies."""

from __future__ import annotations

import zoneinfo
from decimal import Decimal
from typing import Annotated, Literal
from uuid import UUID

import phonenumbers
from pydantic import AfterValidator, BaseModel, Field, field_validator

from intake.domain import clean
from intake.domain.model import FieldError
from intake.domain.test_rules import TestLeadRules
from intake.service_layer.ingest import IngestResult

Name = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(clean.refuse_controls)]
SourceKind = Literal["website", "marketplace", "oem", "chat", "phone", "event", "list"]


class FieldErrorOut(BaseModel):
    field: str
    reason: str


def errors_out(errors: tuple[FieldError, ...] | list[FieldError]) -> list[FieldErrorOut]:
    return [FieldErrorOut(field=e.field, reason=e.reason) for e in errors]


class LeadResult(BaseModel):
    outcome: Literal["ingested", "merged", "rejected", "resent"]
    lead_id: UUID | None
    submission_id: UUID
    matched_on: list[str] = []
    reason_code: str | None = None
    errors: list[FieldErrorOut] = []

    @classmethod
    def of(cls, result: IngestResult) -> LeadResult:
        return cls(
            outcome=result.outcome,
            lead_id=result.lead_id,
            submission_id=result.submission_id,
            matched_on=list(result.matched_on),
            reason_code=result.reason_code,
            errors=errors_out(result.errors),
        )


class Accepted(LeadResult):
    raw_payload_id: UUID


class AcceptedMany(BaseModel):
    raw_payload_id: UUID
    leads: list[LeadResult]


class Refused(BaseModel):
    error: Literal["invalid_payload", "rejected"]
    raw_payload_id: UUID
    reason_code: str | None = None
    errors: list[FieldErrorOut]
    leads: list[LeadResult] = []


class DealershipIn(BaseModel):
    name: Name
    country: str = Field(description="ISO 3166-1 alpha-2, e.g. CA, US, DE")
    timezone: str = Field(description="IANA time zone, e.g. America/Toronto")

    @field_validator("country")
    @classmethod
    def _country(cls, value: str) -> str:
        value = value.upper()
        if value not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown country code {value!r}")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        if value not in zoneinfo.available_timezones():
            raise ValueError(f"unknown time zone {value!r}")
        return value


class DealershipOut(DealershipIn):
    id: UUID


class SourceIn(BaseModel):
    name: Name
    kind: SourceKind
    dealership_id: UUID
    cost_per_lead: Decimal | None = Field(default=None, ge=0, max_digits=12, decimal_places=2)
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")


class SourceOut(BaseModel):
    id: UUID
    name: str
    kind: str
    dealership_id: UUID
    cost_per_lead: Decimal | None
    currency: str | None
    active: bool


class SourceWithKey(SourceOut):
    api_key: str = Field(description="shown once: store it now, only its hash is kept")


class KeyOut(BaseModel):
    api_key: str


class TenantSettingsIO(BaseModel):
    dedup_window_days: int = Field(ge=0, le=365)
    test_rules: TestLeadRules
