"""Dashboard deliveries: search, one delivery in full, retry now, and retry of a whole search."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from app.api.context import runtime
from app.db import utcnow
from app.domain import DELIVERY_STATUSES, DeliveryStatus
from app.errors import invalid
from app.models import Endpoint
from app.services import dashboard, history, inspection, redelivery
from app.services.dashboard import DeliveryFilter
from app.services.endpoints import list_endpoints
from app.services.lookup import owned
from app.web.dashboard import bp, signed_in

FILTER_FIELDS = ("status", "q", "endpoint", "since", "until")


def _moment(field: str, raw: str) -> datetime | None:
    """A `datetime-local` field, read as UTC (the pages show every time in UTC)."""
    if not raw:
        return None
    try:
        return datetime.fromisoformat(raw).replace(tzinfo=UTC)
    except ValueError as exc:
        raise invalid(f"'{field}': not a date and time") from exc


def _filter(args: dict[str, str]) -> DeliveryFilter:
    status = args.get("status") or None
    return DeliveryFilter(
        status=status if status in DELIVERY_STATUSES else None,
        query=(args.get("q") or "").strip() or None,
        endpoint_id=args.get("endpoint") or None,
        since=_moment("since", args.get("since", "")),
        until=_moment("until", args.get("until", "")),
    )


@bp.get("/deliveries")
def list_deliveries() -> str:
    args = {name: request.args.get(name, "") for name in FILTER_FIELDS}
    with signed_in() as (db, workspace_id):
        found = dashboard.search_deliveries(db, workspace_id, _filter(args))
        endpoints = {e.id: e for e in list_endpoints(db, workspace_id)}
    return render_template(
        "dashboard/deliveries.html",
        workspace_id=workspace_id,
        deliveries=found,
        endpoints=endpoints,
        statuses=DELIVERY_STATUSES,
        args=args,
    )


@bp.post("/deliveries/retry")
def retry_deliveries() -> Response:
    """Retry every delivery the search shows; the ones retry refuses are counted, not fatal."""
    args = {name: request.form.get(name, "") for name in FILTER_FIELDS}
    with signed_in() as (db, workspace_id):
        retried, refused = dashboard.retry_filtered(db, workspace_id, _filter(args), utcnow())
    runtime().publisher.publish(retried)  # after the commit, like every publish
    flash(f"Retrying {len(retried)} deliveries now; {refused} could not be retried.")
    # Back to the same search (`endpoint` cannot be a keyword of url_for, hence the encoding).
    query = urlencode({name: value for name, value in args.items() if value})
    return redirect(f"{url_for('dashboard.list_deliveries')}?{query}")


@bp.get("/deliveries/<delivery_id>")
def show_delivery(delivery_id: str) -> str:
    with signed_in() as (db, workspace_id):
        delivery = history.get_delivery(db, workspace_id, delivery_id)
        attempts = history.list_attempts(db, workspace_id, delivery_id)
        endpoint = owned(db, Endpoint, workspace_id, delivery.endpoint_id, "Endpoint")
        sent_at = attempts[-1].created_at if attempts else utcnow()
        headers = inspection.sent_headers(delivery, endpoint, runtime().settings, sent_at)
        return render_template(
            "dashboard/delivery.html",
            workspace_id=workspace_id,
            delivery=delivery,
            endpoint=endpoint,
            payload=inspection.payload(delivery),
            headers=headers,
            attempts=attempts,
            retryable=delivery.status != DeliveryStatus.DELIVERING,
        )


@bp.get("/deliveries/<delivery_id>/payload")
def show_payload(delivery_id: str) -> tuple[str, int, dict[str, str]]:
    """The whole payload, pretty-printed, as plain text: nothing in it can act as markup."""
    with signed_in() as (db, workspace_id):
        delivery = history.get_delivery(db, workspace_id, delivery_id)
        text = inspection.payload(delivery).text
    return text, 200, {"Content-Type": "text/plain; charset=utf-8"}


@bp.post("/deliveries/<delivery_id>/retry")
def retry_delivery(delivery_id: str) -> Response:
    with signed_in() as (db, workspace_id):
        redelivery.retry_delivery(db, workspace_id, delivery_id, utcnow())
    runtime().publisher.publish([delivery_id])  # after the commit, like every publish
    flash("Retrying now.")
    return redirect(url_for("dashboard.show_delivery", delivery_id=delivery_id))
