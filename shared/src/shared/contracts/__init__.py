"""Forecourt's public wire contract: the envelope, every event payload, lost reasons, registry.

Services map these to their own domain types at their edges; nothing here is a domain rule.
"""

from shared.contracts.assignment import (
    ProspectAssignedV1,
    ProspectLostV1,
    ProspectReassignedV1,
    ProspectWonV1,
)
from shared.contracts.base import (
    EventPayload,
    LeadEventPayload,
    Producer,
    UtcDatetime,
    WireModel,
    routing_key,
)
from shared.contracts.common import (
    E164,
    Channel,
    ConsentV1,
    ContactOutcome,
    FieldErrorV1,
    MatchedOn,
    Origin,
    PersonV1,
    SourceKind,
    SourceRefV1,
    VehicleCondition,
    VehicleV1,
)
from shared.contracts.crm_queue import (
    AppointmentV1,
    EnquiryV1,
    LeadContactAttemptedV1,
    LeadLostV1,
    LeadQualifiedV1,
    LeadSlaBreachedV1,
)
from shared.contracts.envelope import Envelope, envelope_type, new_envelope
from shared.contracts.intake import LeadDuplicateV1, LeadIngestedV1, LeadRejectedV1, PersonErasedV1
from shared.contracts.lost_reasons import (
    LOST_REASONS,
    LostReason,
    LostReasonCategory,
    LostReasonCode,
    QualifyingOutcome,
    RecoverPolicy,
    category_of,
    is_recoverable,
    lost_reason,
)
from shared.contracts.reason import CodedLoss
from shared.contracts.recovery import (
    LeadBoughtElsewhereV1,
    LeadDeadV1,
    LeadReactivatedV1,
    RecoveryAttemptedV1,
    RecoveryOutcome,
    RecoveryScheduledV1,
)
from shared.contracts.registry import (
    ALL_ROUTING_KEYS,
    REGISTRY,
    UnknownEvent,
    parse_envelope,
    payload_class,
)

__all__ = [
    "ALL_ROUTING_KEYS",
    "E164",
    "LOST_REASONS",
    "REGISTRY",
    "AppointmentV1",
    "Channel",
    "CodedLoss",
    "ConsentV1",
    "ContactOutcome",
    "EnquiryV1",
    "Envelope",
    "EventPayload",
    "FieldErrorV1",
    "LeadBoughtElsewhereV1",
    "LeadContactAttemptedV1",
    "LeadDeadV1",
    "LeadDuplicateV1",
    "LeadEventPayload",
    "LeadIngestedV1",
    "LeadLostV1",
    "LeadQualifiedV1",
    "LeadReactivatedV1",
    "LeadRejectedV1",
    "LeadSlaBreachedV1",
    "LostReason",
    "LostReasonCategory",
    "LostReasonCode",
    "MatchedOn",
    "Origin",
    "PersonErasedV1",
    "PersonV1",
    "Producer",
    "ProspectAssignedV1",
    "ProspectLostV1",
    "ProspectReassignedV1",
    "ProspectWonV1",
    "QualifyingOutcome",
    "RecoverPolicy",
    "RecoveryAttemptedV1",
    "RecoveryOutcome",
    "RecoveryScheduledV1",
    "SourceKind",
    "SourceRefV1",
    "UnknownEvent",
    "UtcDatetime",
    "VehicleCondition",
    "VehicleV1",
    "WireModel",
    "category_of",
    "envelope_type",
    "is_recoverable",
    "lost_reason",
    "new_envelope",
    "parse_envelope",
    "payload_class",
    "routing_key",
]
