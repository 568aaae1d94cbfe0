"""Dashboard sign-ins kept on the server: signing out ends a session even if its cookie lives on.

The cookie carries a random session id (signed by Flask); the database keeps its hash, the
token it was opened with and when it expires. Each page checks the row and the token in one
query by primary key, as cheap as the token lookup it replaces.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.ids import hash_token
from app.models import DashboardSession, ManagementToken

LIFETIME = timedelta(hours=12)


def open_session(session: Session, token: ManagementToken, now: datetime) -> str:
    """Start a session for `token`; return the id its cookie carries."""
    # Sign-ins are rare, so they sweep the expired rows: no purge job is needed.
    session.execute(delete(DashboardSession).where(DashboardSession.expires_at <= now))
    opened = secrets.token_urlsafe(32)
    session.add(
        DashboardSession(id=hash_token(opened), token_id=token.id, expires_at=now + LIFETIME)
    )
    return opened


def live_token(session: Session, session_id: str, now: datetime) -> ManagementToken | None:
    """The token of a session that is open, unexpired and whose token is not revoked."""
    return session.scalar(
        select(ManagementToken)
        .join(DashboardSession, DashboardSession.token_id == ManagementToken.id)
        .where(
            DashboardSession.id == hash_token(session_id),
            DashboardSession.expires_at > now,
            ManagementToken.revoked_at.is_(None),
        )
    )


def close_session(session: Session, session_id: str) -> None:
    session.execute(delete(DashboardSession).where(DashboardSession.id == hash_token(session_id)))
