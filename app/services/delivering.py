"""One delivery attempt: claim a lease, send outside any transaction, record the outcome fenced.

The pieces live beside this module: the lease SQL in `leases`, the outbound request in
`outbound`, the endpoint's cap, circuit and pauses in `endpoint_health`.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable

from sqlalchemy import Engine

from app import tracing
from app.batching import Batcher
from app.config import Settings
from app.db import utcnow
from app.retry import AttemptResult, decide
from app.sender import Sender
from app.services import endpoint_health
from app.services.destination import Destination
from app.services.endpoint_health import Policy
from app.services.leases import (
    Claim,
    Outcome,
    Relay,
    claim,
    claim_group,
    claim_many,
    record,
    record_group,
    record_many,
    still_admitted,
)
from app.services.outbound import build_request

__all__ = [
    "Attempts",
    "Claim",
    "Destination",
    "Outcome",
    "build_request",
    "claim",
    "claim_many",
    "deliver",
    "record",
    "record_many",
]
log = logging.getLogger(__name__)


class Attempts:
    """Claims and records of the attempts running in one worker process, grouped.

    Each attempt's thread waits for its group; one transaction claims a group and one
    records a group, instead of two transactions per attempt. Every group's claims share a
    fresh lease owner from `new_owner`, so a fenced record tells them from any later claim.
    A record relays the slots it frees to parked deliveries of the same endpoint, claimed in
    its transaction, and this process's threads run them as they finish their attempts
    (`take_woken`), as they do the parked deliveries a record only woke (ids, claimed then):
    never round the broker, whose round trip per delivery over the cap cost a single busy
    endpoint two thirds of its throughput. Should the process die first, the scheduler takes
    them up again once their lease has run out (relayed) or after `requeue_after` (woken).
    """

    def __init__(
        self,
        engine: Engine,
        lease_seconds: float,
        new_owner: Callable[[], str],
        group_size: int = 64,
        policy: Policy | None = None,
    ) -> None:
        self._engine = engine
        self._lease_seconds = lease_seconds
        self._new_owner = new_owner
        self._policy = policy or Policy()
        self._woken: deque[Claim | str] = deque()
        self._claims = Batcher(self._claim_group, group_size, "hookrelay-claims")
        self._records = Batcher(self._record_group, group_size, "hookrelay-records")

    def claim(self, delivery_id: str) -> Claim | None:
        return self._claims.submit(delivery_id)

    def record(self, outcome: Outcome) -> bool:
        return self._records.submit(outcome)

    def still_admitted(self, claim: Claim) -> bool:
        """Look again at a failing endpoint just before sending (see `leases.still_admitted`)."""
        with self._engine.begin() as conn:
            return still_admitted(conn, claim, utcnow())

    def take_woken(self) -> Claim | str | None:
        """A relayed claim or a woken delivery for the calling thread to run next, if any."""
        try:
            return self._woken.popleft()
        except IndexError:
            return None

    def _claim_group(self, delivery_ids: list[str]) -> list[Claim | None]:
        with self._engine.begin() as conn:
            taken, plan = claim_group(
                conn, delivery_ids, self._new_owner(), self._lease_seconds, utcnow(), self._policy
            )
        for change in plan.changes:
            endpoint_health.announce(change)
        # A message delivered twice can sit in one group twice: only its first copy runs.
        return [taken.pop(delivery_id, None) for delivery_id in delivery_ids]

    def _record_group(self, outcomes: list[Outcome]) -> list[bool]:
        relay = Relay(self._new_owner(), self._lease_seconds)
        with self._engine.begin() as conn:
            recorded = record_group(conn, outcomes, self._policy, relay)
        for change in recorded.changes:
            endpoint_health.announce(change)
        self._woken.extend(recorded.relayed)
        self._woken.extend(recorded.woken)
        return recorded.holds


def deliver(
    attempts: Attempts,
    sender: Sender,
    settings: Settings,
    delivery_id: str,
    observe: Callable[[Claim, str], None] | None = None,
) -> str | None:
    """Run one attempt of `delivery_id` if it is due; return the new status, None if skipped.

    `observe(claim, status)` runs after the outcome is recorded (metrics and logs), with what
    the claim already read, so watching an attempt costs no extra query. A delivery its
    endpoint does not admit now (cap, circuit, pause, rate) was deferred by the claim: None.
    Then the thread runs the parked deliveries that finished attempts woke, if any.
    """
    status = _attempt(attempts, sender, settings, delivery_id, observe)
    while (woken := attempts.take_woken()) is not None:
        _attempt(attempts, sender, settings, woken, observe)
    return status


def _attempt(
    attempts: Attempts,
    sender: Sender,
    settings: Settings,
    delivery: Claim | str,
    observe: Callable[[Claim, str], None] | None,
) -> str | None:
    taken = delivery if isinstance(delivery, Claim) else attempts.claim(delivery)
    if taken is None:
        return None  # not due, deferred, already delivered, or another worker holds it
    if taken.recheck and not attempts.still_admitted(taken):
        return None  # its circuit opened or a pause began since the claim: given back
    with tracing.attempting(taken):
        if not taken.endpoint.is_active:
            result = AttemptResult(error="endpoint is disabled", refused=True)
        else:
            result = sender.send(build_request(taken, settings, utcnow()))
        now = utcnow()
        decision = decide(result, taken.attempt_number, settings.retry_schedule, now)
        if not attempts.record(Outcome(taken, result, decision, now)):
            log.warning("lease lost before recording", extra={"delivery_id": taken.delivery_id})
    if observe is not None:
        observe(taken, decision.status)
    return decision.status
