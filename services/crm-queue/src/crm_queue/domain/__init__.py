"""crm-queue's pure domain: opening hours, the dealership policy, and the first-contact task.

No I/O and no clock: callers pass `now` from the injected clock, and read the events a task
records to publish them.
"""

from crm_queue.domain.events import AttemptRecorded, DomainEvent, Lost, Qualified, SlaBreached
from crm_queue.domain.hours import OpeningHours
from crm_queue.domain.policy import Policy
from crm_queue.domain.task import Attempt, Refused, Task

__all__ = [
    "Attempt",
    "AttemptRecorded",
    "DomainEvent",
    "Lost",
    "OpeningHours",
    "Policy",
    "Qualified",
    "Refused",
    "SlaBreached",
    "Task",
]
