#!/usr/bin/env bash
# deps.sh - install the Debian packages secho needs (build, test, tooling).
#
# Usage: scripts/deps.sh            (or: make deps)
#        DEPS_EXTRA="pkg1 pkg2" scripts/deps.sh   to add packages
#
# Exits 0 quickly (no apt-get update) when everything is already installed.
# As root it installs what is missing; otherwise it prints the sudo command
# to run and exits 1.
set -euo pipefail

PACKAGES=(
    build-essential
    pkg-config
    libssl-dev
    openssl
    check
    python3
    python3-cryptography
    socat
    gnutls-bin
    ncat
    procps
    iproute2
    tshark
    valgrind
    clang
    libclang-rt-14-dev
    jq
    stunnel4
    gnuplot-nox
    libsystemd-dev
    systemd
    haproxy
    prometheus
    man-db
)
# shellcheck disable=SC2206  # word splitting of DEPS_EXTRA is intended
PACKAGES+=(${DEPS_EXTRA:-})

say() { printf 'deps: %s\n' "$*"; }
err() { printf 'deps: %s\n' "$*" >&2; }

if ! command -v dpkg-query >/dev/null 2>&1; then
    err "dpkg-query not found; this script supports Debian/Ubuntu only."
    err "needed packages: ${PACKAGES[*]}"
    exit 1
fi

is_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'
}

missing=()
for pkg in "${PACKAGES[@]}"; do
    is_installed "$pkg" || missing+=("$pkg")
done

# The python3 on PATH may be a non-Debian one (pyenv, venv) without the
# 'cryptography' module; that is fine as long as /usr/bin/python3 has it
# (the Makefile falls back to /usr/bin/python3).
check_python() {
    if command -v python3 >/dev/null 2>&1 &&
        python3 -c 'import cryptography' >/dev/null 2>&1; then
        return 0
    fi
    if [ -x /usr/bin/python3 ] &&
        /usr/bin/python3 -c 'import cryptography' >/dev/null 2>&1; then
        return 0
    fi
    err "neither 'python3' on PATH nor /usr/bin/python3 can import the" \
        "'cryptography' module (Debian package python3-cryptography)"
    return 1
}

if [ ${#missing[@]} -eq 0 ]; then
    check_python || exit 1
    say "all ${#PACKAGES[@]} packages present"
    exit 0
fi

preseed_line='wireshark-common wireshark-common/install-setuid boolean false'
needs_preseed=0
for pkg in "${missing[@]}"; do
    case "$pkg" in tshark | wireshark*) needs_preseed=1 ;; esac
done

if [ "$(id -u)" -ne 0 ]; then
    err "missing ${#missing[@]} package(s): ${missing[*]}"
    err "run as root, or:"
    if [ "$needs_preseed" -eq 1 ]; then
        err "  echo '$preseed_line' | sudo debconf-set-selections"
    fi
    err "  sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive" \
        "apt-get install -y --no-install-recommends ${missing[*]}"
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
say "installing ${#missing[@]} missing package(s): ${missing[*]}"
if [ "$needs_preseed" -eq 1 ]; then
    if command -v debconf-set-selections >/dev/null 2>&1; then
        echo "$preseed_line" | debconf-set-selections
    else
        err "debconf-set-selections not found; tshark may prompt"
    fi
fi
if ! apt-get update -qq; then
    err "apt-get update failed"
    exit 1
fi
if ! apt-get install -y -qq --no-install-recommends -o Dpkg::Use-Pty=0 \
    "${missing[@]}"; then
    err "apt-get install failed for: ${missing[*]}"
    exit 1
fi

still=()
for pkg in "${missing[@]}"; do
    is_installed "$pkg" || still+=("$pkg")
done
if [ ${#still[@]} -ne 0 ]; then
    err "still missing after apt-get install: ${still[*]}"
    exit 1
fi
check_python || exit 1
say "installed ${missing[*]}; all ${#PACKAGES[@]} packages present"
