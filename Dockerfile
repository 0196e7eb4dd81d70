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
# What ships is `dist` (fat LTO); `release` builds in about 60 % of the time (docs/deployment.md).
ARG CARGO_PROFILE=dist
# Cache mounts: the crates and the build output stay between builds, so a rebuild is incremental.
# The image gets the binaries without symbols and debug information (150 MB of the 185 MB that
# `dist` links, the line tables and the standard library's debug information); both go to
# /debug, with a debug link from each binary, for the `debug-info` target below.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --profile "$CARGO_PROFILE" --locked -p mimir-core -p mimir-proxy --bins \
    && mkdir /out /debug \
    && for bin in mimir-core mimir-proxy; do \
        objcopy --only-keep-debug "target/$CARGO_PROFILE/$bin" "/debug/$bin.debug" \
        && objcopy --strip-all --add-gnu-debuglink="/debug/$bin.debug" "target/$CARGO_PROFILE/$bin" "/out/$bin" \
        || exit 1; \
    done

# `docker build --target debug-info --output type=local,dest=DIR .` writes the debug files where
# gdb and perf look for them (DIR/usr/lib/debug/usr/local/bin/), for symbolized backtraces and
# profiles of the image's binaries.
FROM scratch AS debug-info
COPY --from=builder /debug/ /usr/lib/debug/usr/local/bin/

FROM ${RUNTIME_IMAGE}
# ca-certificates: OIDC issuers, remote RBAC, audit webhooks over https. curl: health checks.
# /var/lib/mimir/data, the core's default data directory, exists and belongs to uid 10001: a new
# named volume mounted there (docker-compose.yml's core-data) takes its owner from the image, and
# would otherwise belong to root, where the core cannot open its store.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* /var/cache/debconf/*-old /var/lib/dpkg/*-old /var/log/apt /var/log/dpkg.log \
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
