"""Flask + SQLAlchemy + Celery, one row and one task per webhook, `requests.post` in the task.

Same request shapes as hookrelay's ingest API so one load generator drives both.
"""

import json
import os
import uuid

import requests
from celery import Celery
from flask import Flask, abort, request
from sqlalchemy import String, Text, create_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

engine = create_engine(os.environ["DATABASE_URL"])
celery = Celery("naive", broker=os.environ["BROKER_URL"])
celery.conf.task_default_queue = os.environ["HOOKRELAY_QUEUE"]
app = Flask(__name__)


class Base(DeclarativeBase):
    pass


class Endpoint(Base):
    __tablename__ = "endpoints"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    url: Mapped[str] = mapped_column(Text)


class Webhook(Base):
    __tablename__ = "webhooks"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    endpoint_id: Mapped[str] = mapped_column(String(40))
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="pending")


def accept(items: list[dict]) -> list[str]:
    if request.headers.get("Authorization") != f"Bearer {os.environ['NAIVE_API_KEY']}":
        abort(401)
    with Session(engine) as session:
        hooks = []
        for item in items:
            if session.get(Endpoint, item["endpointId"]) is None:
                abort(404)
            payload = json.dumps(item["payload"])
            hooks.append(
                Webhook(id=str(uuid.uuid4()), endpoint_id=item["endpointId"], payload=payload)
            )
        session.add_all(hooks)
        session.commit()
        for hook in hooks:
            deliver.delay(hook.id)
        return [hook.id for hook in hooks]


@app.post("/api/ingest/batch")
def send_batch():
    ids = accept(request.json["items"])
    return {"items": [{"deliveryId": i, "status": "accepted"} for i in ids]}, 202


@app.post("/api/ingest/<endpoint_id>")
def send(endpoint_id):
    [delivery_id] = accept([{"endpointId": endpoint_id, **request.json}])
    return {"deliveryId": delivery_id, "status": "accepted"}, 202


@celery.task
def deliver(webhook_id):
    with Session(engine) as session:
        hook = session.get(Webhook, webhook_id)
        url = session.get(Endpoint, hook.endpoint_id).url
        headers = {"Content-Type": "application/json", "webhook-id": hook.id}
        requests.post(url, data=hook.payload, headers=headers, timeout=10).raise_for_status()
        hook.status = "delivered"
        session.commit()


if __name__ == "__main__":
    Base.metadata.create_all(engine)
