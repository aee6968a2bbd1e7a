#!/bin/sh
# install-deps.sh: install the Debian packages nash builds and runs with,
# only those missing. Used by `make deps`, `make check`, `make demo` and
# .ci/run. Runs apt-get directly as root, through sudo otherwise.
# Set NASH_NO_DEPS=1 to skip (e.g. on a system where you provide them).
set -eu
[ "${NASH_NO_DEPS:-0}" = 1 ] && exit 0

PKGS="make gcc g++ pkg-config
libmsgpack-dev libarchive-dev libdnnl-dev
libprotobuf-c-dev protobuf-c-compiler libonnx-dev python3-onnx
gnuplot-nox bats bats-assert bats-support parallel python3-msgpack
dataset-fashion-mnist"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed'; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
	echo "install-deps: missing packages:$missing (and no apt-get here; install them by hand or set NASH_NO_DEPS=1)" >&2
	exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
		echo "install-deps: missing packages:$missing; run as root or install sudo" >&2
		exit 1
	fi
fi
echo "install-deps: installing$missing" >&2
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >&2
