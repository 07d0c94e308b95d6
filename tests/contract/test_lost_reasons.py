"""The lost-reason table is the closed list of spec/funnel.md, and losses carry it consistently."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.contracts import (
    LOST_REASONS,
    LeadLostV1,
    LostReasonCategory,
    LostReasonCode,
    ProspectLostV1,
    QualifyingOutcome,
    RecoverPolicy,
    category_of,
    is_recoverable,
    lost_reason,
)
from tests.contract.samples import SAMPLES


def test_table_covers_every_code_once() -> None:
    assert set(LOST_REASONS) == set(LostReasonCode)
    assert len(LostReasonCode) == 18
    assert all(row.code is code for code, row in LOST_REASONS.items())


@pytest.mark.parametrize("code", list(LostReasonCode))
def test_category_is_the_code_prefix(code: LostReasonCode) -> None:
    prefix = code.value.split(".", 1)[0]
    assert LOST_REASONS[code].category == prefix
    assert category_of(code) == LostReasonCategory(prefix)
    assert LOST_REASONS[code].label and LOST_REASONS[code].action


def test_recover_policies() -> None:
    assert is_recoverable("not_reached.max_attempts")
    assert is_recoverable(LostReasonCode.POLLUTION_NO_PHONE)  # email only still recovers
    assert lost_reason("not_reached.refused_call").recover is RecoverPolicy.EMAIL_ONLY
    assert not is_recoverable("pollution.test")
    assert not is_recoverable(LostReasonCode.NO_INTEREST_DO_NOT_CONTACT)
    assert lost_reason("no_interest.do_not_contact").recover is RecoverPolicy.NEVER


def test_codes_outside_the_closed_list_are_refused() -> None:
    with pytest.raises(ValueError, match=r"no_interest\.bored"):
        category_of("no_interest.bored")


def test_qualifying_outcomes() -> None:
    assert {o.value for o in QualifyingOutcome} == {
        "appointment.showroom",
        "appointment.test_drive",
        "quotation.requested",
    }


@pytest.mark.parametrize("cls", [LeadLostV1, ProspectLostV1], ids=lambda c: c.__name__)
def test_loss_category_must_match_its_code(cls: type[LeadLostV1] | type[ProspectLostV1]) -> None:
    data = SAMPLES[cls].model_dump()
    data["category"] = "pollution"
    with pytest.raises(ValidationError, match="is in category"):
        cls.model_validate(data)


def test_free_text_code_is_refused() -> None:
    data = SAMPLES[LeadLostV1].model_dump()
    data["reason_code"] = "customer was rude"
    with pytest.raises(ValidationError, match="reason_code"):
        LeadLostV1.model_validate(data)
