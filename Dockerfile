# The zen-flow hook server.
#
#   docker build -t zen-flow/hooks:0.1.0 .
#
# Two stages on the same pinned base: the builder installs the locked runtime dependencies and
# the package into a virtualenv; the final image gets only that virtualenv, runs as an
# unprivileged numeric user (Kubernetes can verify runAsNonRoot) and needs no writable root
# filesystem: /tmp (gunicorn's heartbeat files, the metrics directory) is an emptyDir in deploy/.

FROM python:3.11.15-slim-bookworm AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
# Dependencies first: this layer is rebuilt only when the lock file changes. Every package,
# setuptools for the build below included, is pinned with its hashes (make lock).
COPY requirements-runtime.lock ./
RUN pip install --no-cache-dir --require-hashes -r requirements-runtime.lock

COPY pyproject.toml README.md ./
COPY hooks ./hooks
RUN pip install --no-cache-dir --no-deps --no-build-isolation . \
    && python -m compileall -q /opt/venv


FROM python:3.11.15-slim-bookworm

RUN groupadd --system --gid 10001 zenflow \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin zenflow

COPY --from=builder /opt/venv /opt/venv

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    ZEN_FLOW_BIND=0.0.0.0:8080 \
    PROMETHEUS_MULTIPROC_DIR=/tmp/metrics

USER 10001:10001
WORKDIR /tmp
EXPOSE 8080

ENTRYPOINT ["gunicorn", "--config", "python:zen_flow.server.gunicorn_conf"]
