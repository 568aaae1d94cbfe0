"""The domain's words are defined once, in app/domain.py, and keep their stored values."""

from __future__ import annotations

import ast
from pathlib import Path

from app.domain import (
    DELIVERY_STATUSES,
    FINAL_STATUSES,
    RETRYABLE_STATUSES,
    WAITING_STATUSES,
    AttemptStatus,
    DeliveryStatus,
    DestinationType,
)

ROOT = Path(__file__).resolve().parents[2]
# The domain itself, and the hand-built response dicts (one `nextRetryAt` condition).
EXEMPT = {"app/domain.py"}


def test_stored_values_are_the_contracts() -> None:
    assert DELIVERY_STATUSES == (
        "pending",
        "delivering",
        "delivered",
        "scheduled_retry",
        "failed",
        "dead_letter",
    )
    assert [kind.value for kind in DestinationType] == ["webhook", "slack"]
    assert [status.value for status in AttemptStatus] == ["succeeded", "failed"]


def test_every_status_is_waiting_in_flight_or_final_and_only_one() -> None:
    groups = [*WAITING_STATUSES, DeliveryStatus.DELIVERING, *FINAL_STATUSES]
    assert sorted(groups) == sorted(DeliveryStatus)
    assert set(RETRYABLE_STATUSES) == {DeliveryStatus.SCHEDULED_RETRY, *FINAL_STATUSES}


def test_no_module_spells_a_domain_word_itself() -> None:
    words = {*DeliveryStatus, *AttemptStatus, *DestinationType}
    spelled = []
    for path in sorted([*ROOT.glob("app/**/*.py"), *ROOT.glob("tasks/**/*.py")]):
        name = path.relative_to(ROOT).as_posix()
        if name in EXEMPT:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in words:
                spelled.append(f"{name}:{node.lineno} {node.value!r}")
    assert spelled == []
