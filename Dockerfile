# syntax=docker/dockerfile:1
# Roomcast: one image for `roomcast serve` and `roomcast worker`.

# --- build: install the package and its dependencies into a virtualenv -----------------------
FROM python:3.11-slim AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Dependencies first, from the lock (pinned, hashes checked): this layer is reused while only
# the code changes.
COPY requirements/runtime.lock ./requirements/
RUN pip install --require-hashes -r requirements/runtime.lock
COPY pyproject.toml README.md ./
COPY core ./core
COPY api ./api
COPY realtime ./realtime
COPY workers ./workers
COPY load ./load
COPY roomcast ./roomcast
COPY web ./web
RUN pip install --no-deps . && python -m compileall -q /opt/venv

# --- run: the virtualenv only, as an unprivileged user ---------------------------------------
FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DATA_DIR=/var/lib/roomcast \
    PORT=8000
RUN groupadd --system --gid 10001 roomcast \
    && useradd --system --uid 10001 --gid roomcast --home-dir /var/lib/roomcast \
       --create-home --shell /usr/sbin/nologin roomcast
COPY --from=builder /opt/venv /opt/venv
USER roomcast
WORKDIR /var/lib/roomcast
EXPOSE 8000
# The slim image has no curl: the interpreter checks liveness itself. `roomcast worker` serves
# no HTTP: its containers replace this check (docker-compose.yml checks the Redis connection).
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health/live', timeout=2)"]
CMD ["roomcast", "serve", "--host", "0.0.0.0"]
