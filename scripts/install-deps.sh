#!/bin/sh
# Install the Debian packages lmigtester needs to build, test and benchmark.
# Idempotent: does nothing when everything is present. Needs root (or sudo).
set -eu

PKGS="make gcc clang libcmocka-dev liburing-dev libjson-c-dev zlib1g-dev python3 python3-pytest cpio gzip dpkg-dev
      apt-utils hyperfine qemu-system-x86 valgrind lz4 xz-utils acpica-tools
      libc6-dev binutils bc bison flex libelf-dev"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "install-deps: installing:$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing
