# syntax=docker/dockerfile:1
# Mimir Gate image: both binaries (mimir-core, mimir-proxy) on a slim Debian, run as uid 10001.
# docker-compose.yml and deploy/kubernetes/ use it; docs/deployment.md describes both.

FROM rust:1-bookworm AS builder
# cmake/pkg-config: native parts of pingora's dependencies.
RUN apt-get update \
    && apt-get install -y --no-install-recommends cmake pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY core core
COPY proxy proxy
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --profile dist --locked -p mimir-core -p mimir-proxy --bins \
    && install -D -m 0755 -t /out target/dist/mimir-core target/dist/mimir-proxy

FROM debian:bookworm-slim
# ca-certificates: OIDC issuers, remote RBAC, audit webhooks over https. curl: health checks.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 mimir \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/mimir --no-create-home \
        --shell /usr/sbin/nologin mimir \
    && install -d -o 10001 -g 10001 -m 0750 /var/lib/mimir
COPY --from=builder /out/ /usr/local/bin/
# Defaults; deployments mount their own (docker-compose.yml, the Kubernetes ConfigMap).
COPY deploy/compose/policy.toml config/rbac.json config/routes.toml /etc/mimir/config/
USER 10001:10001
WORKDIR /var/lib/mimir
EXPOSE 8443
CMD ["mimir-proxy", "run", "--config", "/etc/mimir/config/policy.toml"]
