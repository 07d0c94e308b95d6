"""Per-tenant rules that mark a lead as a test lead (lost reason `pollution.test`).

Stored per tenant as JSON and edited through an admin API, hence pydantic. Patterns are regular
expressions searched case-insensitively (`re.search`): anchor them (`^...$`) to match a whole value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from intake.domain import clean
from intake.domain.model import FieldError

RuleField = Literal[
    "first_name", "last_name", "full_name", "email", "phone", "comments", "any_name"
]

# The lead fields a rule looks at; `any_name` is any of the three name fields.
_TARGETS: dict[str, tuple[str, ...]] = {
    "any_name": ("first_name", "last_name", "full_name"),
}


class TestLeadRule(BaseModel):
    __test__: ClassVar[bool] = False  # not a pytest class, despite the name

    model_config = ConfigDict(extra="forbid", frozen=True)

    field: RuleField
    # Bounded: patterns come from tenant admins and run on every lead.
    pattern: str = Field(min_length=1, max_length=500)
    description: str | None = Field(default=None, max_length=500)

    _regex: re.Pattern[str] = PrivateAttr()

    @field_validator("pattern", "description")
    @classmethod
    def _no_controls(cls, value: str | None) -> str | None:
        return clean.refuse_controls(value) if value is not None else None

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value, re.IGNORECASE)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from exc
        return value

    def model_post_init(self, __context: object) -> None:
        self._regex = re.compile(self.pattern, re.IGNORECASE)

    def targets(self) -> tuple[str, ...]:
        return _TARGETS.get(self.field, (self.field,))

    def matches(self, value: str) -> bool:
        return self._regex.search(value) is not None

    def label(self) -> str:
        return self.description or f"matches /{self.pattern}/"


class TestLeadRules(BaseModel):
    __test__: ClassVar[bool] = False

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Bounded: every rule runs on every lead.
    rules: list[TestLeadRule] = Field(default_factory=list, max_length=50)

    # (targets, compiled pattern, label) per rule, built once: reading pydantic private
    # attributes per rule and value was a tenth of bulk intake's CPU.
    _matchers: tuple[tuple[tuple[str, ...], re.Pattern[str], str], ...] = PrivateAttr()

    def model_post_init(self, __context: object) -> None:
        self._matchers = tuple(
            (rule.targets(), re.compile(rule.pattern, re.IGNORECASE), rule.label())
            for rule in self.rules
        )

    @classmethod
    def none(cls) -> TestLeadRules:
        return cls(rules=[])

    @classmethod
    def default(cls) -> TestLeadRules:
        return cls(
            rules=[
                TestLeadRule(
                    field="any_name",
                    pattern=r"^\s*(?:test|testing|test\s+user|test\s+lead|asdf|qwerty)\s*$",
                    description="name is a test value",
                ),
                TestLeadRule(
                    field="email",
                    pattern=r"^(?:test|testing|test\+[^@]*)@",
                    description="email local part is a test value",
                ),
                TestLeadRule(
                    field="email",
                    pattern=r"@(?:test\.com|mailinator\.com)$",
                    description="email at a test or throw-away domain",
                ),
                TestLeadRule(
                    field="comments",
                    pattern=r"^\s*(?:test|testing|this\s+is\s+a\s+test|test\s+lead)[\s.!?]*$",
                    description="comments say it is a test",
                ),
            ]
        )

    def check(self, values: Mapping[str, Sequence[str]]) -> tuple[FieldError, ...]:
        """One error per matching rule, naming the first field it matched.

        `values` maps a lead field (first_name, last_name, full_name, email, phone, comments) to
        the forms of its value worth testing (e.g. a phone as written and in E.164).
        """
        errors: list[FieldError] = []
        for targets, regex, label in self._matchers:
            hit = next(
                (f for f in targets for v in values.get(f, ()) if regex.search(v) is not None),
                None,
            )
            if hit is not None:
                errors.append(FieldError(hit, f"test lead rule: {label}"))
        return tuple(errors)
