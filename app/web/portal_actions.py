"""Portal actions on the application's own endpoints and deliveries: test event, retry now."""

from __future__ import annotations

from flask import flash, redirect, url_for
from werkzeug.wrappers import Response

from app.api.context import runtime
from app.db import utcnow
from app.services import portal, redelivery
from app.services.test_events import send_test_event
from app.web.portal import bp, scoped


@bp.post("/endpoints/<endpoint_id>/test-event")
def send_test(endpoint_id: str) -> Response:
    with scoped(editing=True) as (db, grant):
        portal.endpoint(db, grant, endpoint_id)  # 404 unless it is one of the application's
        delivery_id = send_test_event(
            db,
            grant.workspace_id,
            endpoint_id,
            max_payload_bytes=runtime().settings.max_payload_bytes,
            now=utcnow(),
        )
    runtime().publisher.publish([delivery_id])  # after the commit, like every publish
    flash("Test event sent.")
    return redirect(url_for("portal.show_delivery", delivery_id=delivery_id))


@bp.post("/deliveries/<delivery_id>/retry")
def retry_delivery(delivery_id: str) -> Response:
    with scoped(editing=True) as (db, grant):
        portal.delivery(db, grant, delivery_id)
        redelivery.retry_delivery(db, grant.workspace_id, delivery_id, utcnow())
    runtime().publisher.publish([delivery_id])
    flash("Retrying now.")
    return redirect(url_for("portal.show_delivery", delivery_id=delivery_id))
