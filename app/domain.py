"""The domain's words, each defined once: delivery and attempt statuses, destination types.

Each is a `StrEnum`: a member is its stored string (it compares, binds in SQL and serializes
as that string), so the database, the API and the templates see exactly the values they
always have. The groupings below say which statuses the business treats alike.
"""

from __future__ import annotations

from enum import StrEnum


class DeliveryStatus(StrEnum):
    """Where a delivery is in its life; one row per (payload, endpoint)."""

    PENDING = "pending"  # stored, not attempted yet
    DELIVERING = "delivering"  # claimed by a worker, under a lease
    DELIVERED = "delivered"  # a 2xx answered
    SCHEDULED_RETRY = "scheduled_retry"  # failed, waiting for its next attempt
    FAILED = "failed"  # refused or gone (410): never retried by the schedule
    DEAD_LETTER = "dead_letter"  # the retry schedule ran out


# The wire's and the command line's list, as plain strings in their canonical order.
DELIVERY_STATUSES: tuple[str, ...] = tuple(status.value for status in DeliveryStatus)

# A scheduler may (re)enqueue these and a worker may claim them.
WAITING_STATUSES = (DeliveryStatus.PENDING, DeliveryStatus.SCHEDULED_RETRY)
# Nothing more happens to these unless an operator sends them again; old ones are purged.
FINAL_STATUSES = (DeliveryStatus.DELIVERED, DeliveryStatus.FAILED, DeliveryStatus.DEAD_LETTER)
# An operator may send these now: a delivery waiting for its next retry can be sent early,
# one pending or being delivered is already on its way.
RETRYABLE_STATUSES = (DeliveryStatus.SCHEDULED_RETRY, *FINAL_STATUSES)
# What re-driving an endpoint takes when no status is named.
REDRIVE_STATUSES = (DeliveryStatus.FAILED, DeliveryStatus.DEAD_LETTER)


class AttemptStatus(StrEnum):
    """How one HTTP attempt ended."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"


class DestinationType(StrEnum):
    """What an endpoint's URL receives."""

    WEBHOOK = "webhook"  # the payload as signed JSON (Standard Webhooks)
    SLACK = "slack"  # a Slack incoming webhook: the payload as a message


DESTINATION_TYPES: tuple[str, ...] = tuple(kind.value for kind in DestinationType)
