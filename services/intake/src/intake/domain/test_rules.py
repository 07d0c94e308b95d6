"""Per-tenant rules that mark a lead as a test lead (lost reason `pollution.test`).

Stored per tenant as JSON and edited through an admin API, hence pydantic. Patterns are regular
expressions searched case-insensitively: anchor them (`^...$`) to match a whole value. They run
on RE2 (google-re2), whose matching time is linear in the value: a tenant's pattern with
catastrophic backtracking in Python's `re` (`^(a+)+$`) cannot stall intake's event loop. RE2 has
no backreferences or lookarounds; such a pattern is refused with its reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

import re2
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


def compile_pattern(pattern: str) -> Any:
    """`pattern` compiled by RE2, case-insensitive; re2.error if RE2 cannot read it."""
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False  # the error is raised, and answered: no stderr noise
    return re2.compile(pattern, options)


class TestLeadRule(BaseModel):
    __test__: ClassVar[bool] = False  # not a pytest class, despite the name

    model_config = ConfigDict(extra="forbid", frozen=True)

    field: RuleField
    # Bounded: patterns come from tenant admins and run on every lead.
    pattern: str = Field(min_length=1, max_length=500)
    description: str | None = Field(default=None, max_length=500)

    _regex: Any = PrivateAttr()  # an RE2 pattern

    @field_validator("pattern", "description")
    @classmethod
    def _no_controls(cls, value: str | None) -> str | None:
        return clean.refuse_controls(value) if value is not None else None

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            compile_pattern(value)
        except re2.error as exc:
            why = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
            raise ValueError(f"not a valid regular expression (RE2): {why}") from exc
        return value

    def model_post_init(self, __context: object) -> None:
        self._regex = compile_pattern(self.pattern)

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
    _matchers: tuple[tuple[tuple[str, ...], Any, str], ...] = PrivateAttr()

    def model_post_init(self, __context: object) -> None:
        self._matchers = tuple(
            (rule.targets(), compile_pattern(rule.pattern), rule.label()) for rule in self.rules
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
