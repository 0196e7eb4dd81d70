#!/usr/bin/env bash
# Makes the two base images the Dockerfile starts from, where no image registry is reachable:
# from Debian's own packages (debootstrap) and the host's Rust toolchain, as `docker import`s.
#
#   mimir-local/rust:1-bookworm          stands in for rust:1-bookworm (build stage)
#   mimir-local/debian:bookworm-slim     stands in for debian:bookworm-slim (runtime stage)
#
# tests/deploy/test_docker.py builds the Dockerfile with them through its RUST_IMAGE and
# RUNTIME_IMAGE build arguments. Idempotent: an image that already exists is kept.
# Needs root, debootstrap, a running Docker engine and a Rust toolchain on the PATH.
set -euo pipefail

DOCKER="${DOCKER:-/usr/bin/docker}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
RUST_BASE="mimir-local/rust:1-bookworm"
RUNTIME_BASE="mimir-local/debian:bookworm-slim"

[ "$(id -u)" = 0 ] || { echo "base-images.sh: debootstrap needs root" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "base-images.sh: debootstrap not installed (Debian package debootstrap)" >&2; exit 1; }
"$DOCKER" info >/dev/null 2>&1 || { echo "base-images.sh: no Docker engine answers $DOCKER" >&2; exit 1; }

exists() { "$DOCKER" image inspect "$1" >/dev/null 2>&1; }
if exists "$RUST_BASE" && exists "$RUNTIME_BASE"; then
    echo "kept    $RUST_BASE, $RUNTIME_BASE"
    exit 0
fi

work="$(mktemp -d /var/tmp/mimir-base.XXXXXX)"
trap 'rm -rf "$work"' EXIT
# Both images share the packages of the smaller one: download them once.
mkdir "$work/debs"

# The apt sources of the official images (the release, its updates, security), and nothing of
# the host's: no resolver configuration, no host name.
debian_rootfs() {
    local root="$1"
    shift
    debootstrap --variant=minbase --cache-dir="$work/debs" "$@" bookworm "$root" "$MIRROR" >"$work/debootstrap.log" 2>&1 \
        || { tail -n 30 "$work/debootstrap.log" >&2; exit 1; }
    rm -f "$root/etc/apt/sources.list" "$root/etc/resolv.conf" "$root/etc/hostname"
    cat >"$root/etc/apt/sources.list.d/debian.sources" <<'SOURCES'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
    # apt as the official images configure it: no package cache or downloaded packages left in
    # a layer, no translations, compressed indexes.
    cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'APT'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT
    echo 'Acquire::Languages "none";' >"$root/etc/apt/apt.conf.d/docker-no-languages"
    echo 'Acquire::GzipIndexes "true";' >"$root/etc/apt/apt.conf.d/docker-gzip-indexes"
    echo 'Apt::AutoRemove::SuggestsImportant "false";' >"$root/etc/apt/apt.conf.d/docker-autoremove-suggests"
}

clean_rootfs() {
    local root="$1"
    chroot "$root" apt-get clean
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/log/* "$root"/var/cache/debconf/*-old "$root"/tmp/* \
        "$root"/dev/* "$root"/proc/* "$root"/sys/* "$root"/run/*
}

import() {
    local root="$1" tag="$2"
    shift 2
    tar --numeric-owner -C "$root" -c . | "$DOCKER" import "$@" - "$tag" >/dev/null
    echo "created $tag ($("$DOCKER" image inspect --format '{{.Size}}' "$tag" | awk '{printf "%d MB", $1 / 1e6}'))"
}

if ! exists "$RUNTIME_BASE"; then
    root="$work/runtime"
    debian_rootfs "$root"
    # What makes debian:bookworm-slim slim: no manuals, documentation or translations, now or in
    # packages installed later (copyright files stay).
    cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'DPKG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
DPKG
    find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
    find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
    rm -rf "$root"/usr/share/{man,groff,info,lintian,linda,locale}/*
    clean_rootfs "$root"
    import "$root" "$RUNTIME_BASE" --change 'CMD ["bash"]'
    rm -rf "$root"
fi

if ! exists "$RUST_BASE"; then
    root="$work/rust"
    # The C toolchain of rust:1-bookworm that the build uses: cc and c++ for native dependencies.
    debian_rootfs "$root" --include=ca-certificates,gcc,g++,libc6-dev,make
    # The host's toolchain (compiler, cargo, standard library; not its documentation), laid out as
    # in rust:1-bookworm: toolchains under RUSTUP_HOME, commands in CARGO_HOME/bin.
    sysroot="$(rustc --print sysroot)"
    toolchain="/usr/local/rustup/toolchains/$(basename "$sysroot")"
    mkdir -p "$root$toolchain" "$root/usr/local/cargo/bin"
    cp -a "$sysroot/bin" "$sysroot/lib" "$root$toolchain/"
    for tool in cargo rustc rustdoc; do
        ln -s "$toolchain/bin/$tool" "$root/usr/local/cargo/bin/$tool"
    done
    # Where the host reaches crates.io through a TLS-inspecting proxy, cargo in the build must
    # trust that proxy's CA as the host does. Only the build stage has it; the image that ships
    # starts from the runtime base.
    if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
        cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
        chroot "$root" update-ca-certificates >/dev/null 2>&1 || { echo "base-images.sh: update-ca-certificates failed" >&2; exit 1; }
    fi
    clean_rootfs "$root"
    import "$root" "$RUST_BASE" \
        --change 'ENV RUSTUP_HOME=/usr/local/rustup' \
        --change 'ENV CARGO_HOME=/usr/local/cargo' \
        --change 'ENV PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["bash"]'
    "$DOCKER" run --rm --network none "$RUST_BASE" sh -c 'rustc --version && cargo --version'
fi
