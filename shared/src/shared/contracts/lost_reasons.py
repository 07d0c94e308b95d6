"""The closed list of lost-reason codes (spec/funnel.md) as data every service reads alike.

Codes are stable wire identifiers; labels are English defaults a UI may translate. A code's
category is the part before the dot. Adding a code changes the contract of every event that
carries one: publish it only once every consumer runs a `shared` that knows it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType


class LostReasonCategory(StrEnum):
    POLLUTION = "pollution"
    INVALID = "invalid"
    NOT_REACHED = "not_reached"
    NO_INTEREST = "no_interest"
    BOUGHT_ELSEWHERE = "bought_elsewhere"
    PROSPECT = "prospect"


class RecoverPolicy(StrEnum):
    """Whether recovery follows the loss up, and how."""

    NO = "no"
    YES = "yes"
    EMAIL_ONLY = "email_only"
    NEVER = "never"  # stronger than NO: the person must not be contacted at all


class LostReasonCode(StrEnum):
    POLLUTION_TEST = "pollution.test"
    POLLUTION_DUPLICATE = "pollution.duplicate"
    POLLUTION_NO_PHONE = "pollution.no_phone"
    POLLUTION_NOT_FOR_BDC = "pollution.not_for_bdc"
    INVALID_PERSONAL_DATA = "invalid.personal_data"
    NOT_REACHED_MAX_ATTEMPTS = "not_reached.max_attempts"
    NOT_REACHED_REFUSED_CALL = "not_reached.refused_call"
    NO_INTEREST_BOUGHT_OTHER_CAR = "no_interest.bought_other_car"
    NO_INTEREST_TRADE_IN_ONLY = "no_interest.trade_in_only"
    NO_INTEREST_OTHER_CAR = "no_interest.other_car"
    NO_INTEREST_CONTACTED_DEALER = "no_interest.contacted_dealer"
    NO_INTEREST_SELF_VISIT = "no_interest.self_visit"
    NO_INTEREST_DO_NOT_CONTACT = "no_interest.do_not_contact"
    NO_INTEREST_FOLLOW_UP = "no_interest.follow_up"
    BOUGHT_ELSEWHERE_SAME_BRAND = "bought_elsewhere.same_brand"
    BOUGHT_ELSEWHERE_OTHER_BRAND = "bought_elsewhere.other_brand"
    PROSPECT_PRICE = "prospect.price"
    PROSPECT_POSTPONED = "prospect.postponed"


class QualifyingOutcome(StrEnum):
    """How a lead becomes a prospect (these are not losses)."""

    APPOINTMENT_SHOWROOM = "appointment.showroom"
    APPOINTMENT_TEST_DRIVE = "appointment.test_drive"
    QUOTATION_REQUESTED = "quotation.requested"


@dataclass(frozen=True)
class LostReason:
    code: LostReasonCode
    category: LostReasonCategory
    label: str
    recover: RecoverPolicy
    action: str


_C = LostReasonCode
_K = LostReasonCategory
_R = RecoverPolicy

_ROWS = (
    LostReason(_C.POLLUTION_TEST, _K.POLLUTION, "Test / bug lead", _R.NO, "exclude from KPIs"),
    LostReason(
        _C.POLLUTION_DUPLICATE, _K.POLLUTION, "Double lead", _R.NO, "merge into the original"
    ),
    LostReason(
        _C.POLLUTION_NO_PHONE,
        _K.POLLUTION,
        "Phone number missing",
        _R.EMAIL_ONLY,
        "ask source for data quality",
    ),
    LostReason(
        _C.POLLUTION_NOT_FOR_BDC,
        _K.POLLUTION,
        "Not intended for CRM/BDC",
        _R.NO,
        "route to the right department",
    ),
    LostReason(
        _C.INVALID_PERSONAL_DATA,
        _K.INVALID,
        "Personal data incorrect",
        _R.NO,
        "source data-quality score",
    ),
    LostReason(
        _C.NOT_REACHED_MAX_ATTEMPTS,
        _K.NOT_REACHED,
        "Not reached after maximum attempts",
        _R.YES,
        "long cadence",
    ),
    # The spec's recover column says "yes" but its action says "email only": the person
    # refused calls, so the policy carries that restriction where recovery can read it.
    LostReason(
        _C.NOT_REACHED_REFUSED_CALL,
        _K.NOT_REACHED,
        "Refused the call",
        _R.EMAIL_ONLY,
        "long cadence, email only",
    ),
    LostReason(
        _C.NO_INTEREST_BOUGHT_OTHER_CAR,
        _K.NO_INTEREST,
        "Already bought another car",
        _R.YES,
        "aftersales / next-purchase campaign",
    ),
    LostReason(
        _C.NO_INTEREST_TRADE_IN_ONLY,
        _K.NO_INTEREST,
        "Only looking for trade-in value",
        _R.YES,
        "used-car purchase offer",
    ),
    LostReason(
        _C.NO_INTEREST_OTHER_CAR,
        _K.NO_INTEREST,
        "Prefers another car",
        _R.YES,
        "offer alternatives",
    ),
    LostReason(
        _C.NO_INTEREST_CONTACTED_DEALER,
        _K.NO_INTEREST,
        "Already in contact with the dealer",
        _R.NO,
        "link to existing prospect",
    ),
    LostReason(
        _C.NO_INTEREST_SELF_VISIT,
        _K.NO_INTEREST,
        "Will visit on own initiative",
        _R.YES,
        "short cadence",
    ),
    LostReason(
        _C.NO_INTEREST_DO_NOT_CONTACT,
        _K.NO_INTEREST,
        "Does not want to be called anymore",
        _R.NEVER,
        "set do-not-contact everywhere",
    ),
    LostReason(
        _C.NO_INTEREST_FOLLOW_UP,
        _K.NO_INTEREST,
        "No conversion now, follow-up required",
        _R.YES,
        "short cadence",
    ),
    LostReason(
        _C.BOUGHT_ELSEWHERE_SAME_BRAND,
        _K.BOUGHT_ELSEWHERE,
        "Bought our brand at another dealer",
        _R.YES,
        "aftersales campaign (first service with us)",
    ),
    LostReason(
        _C.BOUGHT_ELSEWHERE_OTHER_BRAND,
        _K.BOUGHT_ELSEWHERE,
        "Bought another brand",
        _R.YES,
        "conquest campaign later",
    ),
    LostReason(
        _C.PROSPECT_PRICE, _K.PROSPECT, "Price / financing not accepted", _R.YES, "manager review"
    ),
    LostReason(
        _C.PROSPECT_POSTPONED,
        _K.PROSPECT,
        "Postponed the purchase",
        _R.YES,
        "cadence from the stated date",
    ),
)

LOST_REASONS: Mapping[LostReasonCode, LostReason] = MappingProxyType({r.code: r for r in _ROWS})


def lost_reason(code: LostReasonCode | str) -> LostReason:
    """The table row of a code; ValueError for a code outside the closed list."""
    return LOST_REASONS[LostReasonCode(code)]


def category_of(code: LostReasonCode | str) -> LostReasonCategory:
    return lost_reason(code).category


def is_recoverable(code: LostReasonCode | str) -> bool:
    """Whether recovery schedules any follow-up at all (email-only counts)."""
    return lost_reason(code).recover in (RecoverPolicy.YES, RecoverPolicy.EMAIL_ONLY)
