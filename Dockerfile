# syntax=docker/dockerfile:1
# The Jadechain node / control-plane image:
#   docker build -t jadechain/node:0.1.0 .        (or: podman build -t jadechain/node:0.1.0 .)
# Stage 1 builds the project's wheel and a wheelhouse of its dependencies; stage 2 is a slim Debian
# runtime with Debian's python3 (3.11 on bookworm), one virtualenv installed offline from that
# wheelhouse, and a non-root user. No keys, passwords or tokens are baked in: a node reads them from
# mounted Secrets (see baas/provisioners/kubernetes.py). Where no container daemon exists,
# deploy/image/build-rootfs.sh builds the same root filesystem with debootstrap (docs/deploy.md).

ARG DEBIAN_RELEASE=bookworm

FROM debian:${DEBIAN_RELEASE}-slim AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv python3-dev build-essential \
 && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /build/venv && /build/venv/bin/pip install --no-cache-dir --upgrade pip wheel
WORKDIR /src
COPY pyproject.toml README.md ./
COPY ledger ./ledger
COPY contracts ./contracts
COPY consensus ./consensus
COPY node ./node
COPY jadechain ./jadechain
COPY baas ./baas
# The project's wheel plus a wheel for every dependency (binary wheels from PyPI, the rest built here).
RUN /build/venv/bin/pip wheel --no-cache-dir --wheel-dir /wheels .

FROM debian:${DEBIAN_RELEASE}-slim AS runtime
ARG JADECHAIN_VERSION=0.1.0
LABEL org.opencontainers.image.title="jadechain" \
      org.opencontainers.image.version="${JADECHAIN_VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.description="Jadechain node, CLI and BaaS control plane"
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/*
# Same steps as deploy/image/build-rootfs.sh: a virtualenv at /opt/jadechain, installed offline.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python3 -m venv /opt/jadechain \
 && /opt/jadechain/bin/pip install --no-cache-dir --no-index --find-links /wheels jadechain \
 && /opt/jadechain/bin/pip uninstall -y pip \
 && groupadd --system --gid 10001 jadechain \
 && useradd --system --uid 10001 --gid 10001 --home-dir /data --shell /usr/sbin/nologin jadechain \
 && install -d -o 10001 -g 10001 -m 0700 /data
ENV PATH=/opt/jadechain/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    JADECHAIN_GATEWAY_PORT=8100
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 7100 8100
# /health answers while the gateway serves; Kubernetes uses /ready (caught up and voting) for readiness.
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('JADECHAIN_GATEWAY_PORT', '8100'), timeout=2)"]
ENTRYPOINT ["jadechain"]
CMD ["--help"]
