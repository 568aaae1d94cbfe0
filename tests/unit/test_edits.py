"""A PATCH body becomes the service's edit: absent fields keep, null clears what may be cleared."""

from __future__ import annotations

from app.schemas import parse
from app.schemas.management import ApplicationUpdate, EndpointUpdate
from app.services.applications import ApplicationChange
from app.services.edits import KEEP
from app.services.endpoints import EndpointChange


def test_an_absent_field_keeps_and_a_null_clears_only_the_nullable() -> None:
    body = {"url": None, "description": None, "maxInFlight": None, "isActive": False}
    change = parse(EndpointUpdate, body).as_change()
    assert change == EndpointChange(
        url=KEEP,  # null is no URL: the endpoint keeps its own
        description=None,
        metadata=KEEP,
        is_active=False,
        max_in_flight=None,  # back to the server default
        rate_limit=KEEP,
    )


def test_an_empty_body_changes_nothing() -> None:
    assert parse(EndpointUpdate, {}).as_change() == EndpointChange()
    assert parse(ApplicationUpdate, {}).as_change() == ApplicationChange()


def test_a_null_max_endpoints_lifts_the_cap_and_a_null_name_keeps_it() -> None:
    change = parse(ApplicationUpdate, {"name": None, "maxEndpoints": None}).as_change()
    assert change == ApplicationChange(name=KEEP, max_endpoints=None)
