#!/bin/bash
# Runs inside the cgroup v2 VM (scripts/vm/run-in-guest.sh), from the checkout at /mnt/host: the
# cgroup v2 tests, the crash sweep, and the installed systemd service, in one boot.
# Each test file runs (in-process, without --test's runner) as the only process of its own Delegate=yes scope, as the daemon runs under
# systemd: a test that shares its scope with this shell could not hand controllers to children.
set -eu
export TOOLCELL_TEST_SLOWDOWN=10   # the guest's CPU is emulated
node bin/toolcell.js users sync --tools profiles
for file in dist/test/integration/cgroup.test.js dist/test/e2e/crash-sweep.test.js; do
  systemd-run --quiet --scope -p Delegate=yes --slice=guest.slice -- node --test-reporter=spec "$file"
done
# The installed service: systemd gives it its own delegated cgroup, so this one needs no scope.
node --test-reporter=spec dist/test/vm/guest/service.guest.js
