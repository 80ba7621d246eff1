#!/usr/bin/env bash
# Install the Debian packages LQMF needs to build and test, if any is missing.
set -euo pipefail
PKGS=(gcc make pkg-config clang libclang-rt-14-dev
      libjansson-dev libpcre2-dev libutf8proc-dev libcurl4-openssl-dev
      libsqlite3-dev libmicrohttpd-dev libreadline-dev sqlite3)
# cross tools for the AArch64 (NEON) tests (make neon-test) on x86-64 hosts
[ "$(uname -m)" = x86_64 ] && PKGS+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user)
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
