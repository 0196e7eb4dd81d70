# Mimir Gate image: both binaries (mimir-core, mimir-proxy) on a slim Debian, run as uid 10001.
# docker-compose.yml and deploy/kubernetes/ use it; docs/deployment.md describes both.
# No `# syntax=` line: the engine's built-in frontend builds it, with no image from a registry.

# The official base images; equivalent local ones can be given instead (tests/deploy/base-images.sh
# makes them from Debian's packages where no image registry is reachable).
ARG RUST_IMAGE=rust:1-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${RUST_IMAGE} AS builder
# cmake/pkg-config: native parts of pingora's dependencies.
RUN apt-get update \
    && apt-get install -y --no-install-recommends cmake pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY core core
COPY proxy proxy
# What ships is `dist` (fat LTO); `release` builds in less than half the time (docs/deployment.md).
ARG CARGO_PROFILE=dist
# Cache mounts: the crates and the build output stay between builds, so a rebuild is incremental.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --profile "$CARGO_PROFILE" --locked -p mimir-core -p mimir-proxy --bins \
    && install -D -m 0755 -t /out "target/$CARGO_PROFILE/mimir-core" "target/$CARGO_PROFILE/mimir-proxy"

FROM ${RUNTIME_IMAGE}
# ca-certificates: OIDC issuers, remote RBAC, audit webhooks over https. curl: health checks.
# /var/lib/mimir/data, the core's default data directory, exists and belongs to uid 10001: a new
# named volume mounted there (docker-compose.yml's core-data) takes its owner from the image, and
# would otherwise belong to root, where the core cannot open its store.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 mimir \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/mimir --no-create-home \
        --shell /usr/sbin/nologin mimir \
    && install -d -o 10001 -g 10001 -m 0750 /var/lib/mimir /var/lib/mimir/data
COPY --from=builder /out/ /usr/local/bin/
# Defaults; deployments mount their own (docker-compose.yml, the Kubernetes ConfigMap).
COPY deploy/compose/policy.toml config/rbac.json config/routes.toml /etc/mimir/config/
USER 10001:10001
WORKDIR /var/lib/mimir
EXPOSE 8443
CMD ["mimir-proxy", "run", "--config", "/etc/mimir/config/policy.toml"]
