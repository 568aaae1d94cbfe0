# hookrelay's image. One image, four commands, as in the Procfile: `web` (the default),
# `worker`, `scheduler` and `release` (the migrations); anything else runs as given, e.g.
# `flask --app app bootstrap --json`. Every setting and secret comes from the environment.

# Build: a virtualenv with hookrelay's dependencies (wheels only, so no compiler).
FROM python:3.11-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/hookrelay
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app app
COPY tasks tasks
# The dependencies with the tracing extra; the code itself is copied as source below.
RUN /opt/hookrelay/bin/pip install --only-binary=:all: '.[tracing]' \
    && /opt/hookrelay/bin/pip uninstall --yes hookrelay pip

# Run: the virtualenv and the source, as an unprivileged user.
FROM python:3.11-slim-bookworm
RUN useradd --uid 10001 --user-group --no-create-home --home-dir /app --shell /usr/sbin/nologin hookrelay
WORKDIR /app
COPY --from=build /opt/hookrelay /opt/hookrelay
COPY Procfile gunicorn.conf.py alembic.ini ./
COPY alembic alembic
COPY app app
COPY tasks tasks
COPY scripts/container scripts/receiver.py scripts/
RUN mkdir var && chown 10001:10001 var
ENV PATH=/opt/hookrelay/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOOKRELAY_DATA_DIR=/app/var \
    PORT=8000
# Numeric, so that an orchestrator can check it is not root without reading /etc/passwd.
USER 10001:10001
EXPOSE 8000
# web: GET /healthz; worker: a fresh heartbeat (python -m tasks.health); scheduler, release: none.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["scripts/container", "health"]
ENTRYPOINT ["scripts/container"]
CMD ["web"]
