"""A lead's contact details, merged from its enquiries. Pure Python.

The lead's own enquiry (lead.ingested) gives the person; each repeat (lead.duplicate) may add
what it brought: a name the lead lacked, a new phone or e-mail. The lead's own details stay
first (`phone`, `email`); new ones join `other_phones` / `other_emails`. The result depends
only on the set of enquiries (repeats taken by their time, then id), never on the order the
events arrived in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

LEAD = "lead"  # the enquiry that made the lead
REPEAT = "repeat"  # a lead.duplicate


def merged_person(enquiries: Iterable[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The person of the lead with every repeat's new details; None while the lead's own
    enquiry is unknown (only a repeat has arrived: nobody knows whom to call yet)."""
    enquiries = list(enquiries)
    own = [e for e in enquiries if e["kind"] == LEAD]
    if not own:
        return None
    person = dict(own[0].get("person") or {})
    phones: list[str] = list(person.get("other_phones") or [])
    emails: list[str] = list(person.get("other_emails") or [])
    repeats = sorted(
        (e for e in enquiries if e["kind"] != LEAD),
        key=lambda e: (e["received_at"], str(e["enquiry_id"])),
    )
    for enquiry in repeats:
        given = enquiry.get("person") or {}
        for name in ("first_name", "last_name"):
            if not person.get(name) and given.get(name):
                person[name] = given[name]
        email = given.get("email")
        if email:
            known = [x.lower() for x in [person.get("email") or "", *emails]]
            if not person.get("email"):
                person["email"] = email
            elif email.lower() not in known:
                emails.append(email)
        for phone in [given.get("phone"), *(given.get("other_phones") or [])]:
            if not phone or phone == person.get("phone") or phone in phones:
                continue
            if not person.get("phone"):
                person["phone"] = phone
            else:
                phones.append(phone)
    person["other_phones"] = phones
    if emails:
        person["other_emails"] = emails
    return person
