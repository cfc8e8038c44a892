#!/bin/sh
# Brings a fresh Debian 12 machine (or this checkout) to the point where toolcell builds, runs and
# tests. Idempotent and silent when everything is already in place; `npm start` and `npm test` run it.
set -eu
cd "$(dirname "$0")/.."

# System packages: bubblewrap builds the sandboxes, libseccomp2 compiles their syscall filters,
# nftables/iproute2 wire sandbox networks, python3 backs the bundled `python` tool, passwd has
# useradd for the tool users, gcc and libc6-dev build the static helpers in native/, musl-tools
# those that every call starts (see below).
PACKAGES="bubblewrap libseccomp2 nftables iproute2 python3 passwd gcc libc6-dev musl-tools"
missing=""
for p in $PACKAGES; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing="$missing $p"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "toolcell setup: missing Debian packages:$missing (run as root, or install them with apt-get)" >&2
    exit 1
  fi
  echo "toolcell setup: installing$missing" >&2
  export DEBIAN_FRONTEND=noninteractive
  log=$(mktemp)
  # shellcheck disable=SC2086
  if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing; } >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    echo "toolcell setup: apt-get failed to install$missing" >&2
    exit 1
  fi
  rm -f "$log"
fi

# npm packages: reinstall only when the lockfile is newer than the last install.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error >&2
fi
# The node22/node24 dev packages (the extra runtimes the e2e tests run on) each declare a "node"
# bin, so npm links node_modules/.bin/node, which npm scripts put first on PATH: `npm test` and
# `npm start` would silently run on Node 22 instead of the machine's node. Nothing needs that link.
rm -f node_modules/.bin/node

# Build: tsc is incremental, so an unchanged tree costs little.
node_modules/.bin/tsc -p tsconfig.json

# Native helpers that run inside sandboxes: static, so they work whatever a profile binds.
# The ones every call execs (run-as, sandbox-exec, pty-exec) are linked against musl: a 48 KB
# static binary, where glibc's is 750 KB and its start-up faults in far more pages. Measured at 16
# concurrent calls: 2 ms less machine CPU per call and 7% more calls per second. The others need
# kernel headers that musl-gcc does not search, and run once per daemon or test.
mkdir -p dist/native
for src in native/*.c; do
  name=$(basename "$src" .c)
  out="dist/native/$name"
  case "$name" in
    run-as | sandbox-exec | pty-exec) cc=musl-gcc ;;
    *) cc=gcc ;;
  esac
  if [ ! -x "$out" ] || [ "$src" -nt "$out" ] || [ scripts/setup.sh -nt "$out" ]; then
    "$cc" -O2 -Wall -Wextra -Werror -static -o "$out" "$src"
  fi
done
