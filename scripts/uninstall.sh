#!/bin/sh
# uninstall.sh - removes what scripts/install.sh installed.
#
#   scripts/uninstall.sh [--prefix DIR] [--sysconfdir DIR] [--purge]
#
# Stops and disables the units, and removes the program, the launcher, the units, the sysusers.d
# and tmpfiles.d files and /run/toolcell. The admin's SYSCONFDIR/toolcell (config, profiles,
# secrets) stays unless --purge, which also removes it, the tools' users and the client group.
set -eu

PREFIX=/usr
SYSCONFDIR=/etc
PURGE=no
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) PREFIX=$2; shift 2 ;;
    --prefix=*) PREFIX=${1#*=}; shift ;;
    --sysconfdir) SYSCONFDIR=$2; shift 2 ;;
    --sysconfdir=*) SYSCONFDIR=${1#*=}; shift ;;
    --purge) PURGE=yes; shift ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "uninstall.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
DESTDIR=${DESTDIR:-}
say() { echo "uninstall.sh: $*" >&2; }

if [ -z "$DESTDIR" ] && [ -d /run/systemd/system ]; then
  systemctl disable --now toolcell.socket toolcell.service 2>/dev/null || true
fi

# The users to remove on --purge: those toolcell made (users sync and sysusers.d mark them with the
# comment "toolcell tool ..."), never an account a profile merely named (www-data, nobody).
users=""
if [ "$PURGE" = yes ] && [ -z "$DESTDIR" ]; then
  users=$(getent passwd | awk -F: '$5 ~ /^toolcell tool / && $7 == "/usr/sbin/nologin" { print $1 }')
fi

rm -rf "$DESTDIR$PREFIX/lib/toolcell" "$DESTDIR$PREFIX/bin/toolcell" \
  "$DESTDIR$PREFIX/lib/systemd/system/toolcell.service" "$DESTDIR$PREFIX/lib/systemd/system/toolcell.socket" \
  "$DESTDIR$PREFIX/lib/sysusers.d/toolcell.conf" "$DESTDIR$PREFIX/lib/tmpfiles.d/toolcell.conf"
[ -z "$DESTDIR" ] && rm -rf /run/toolcell
[ -z "$DESTDIR" ] && [ -d /run/systemd/system ] && systemctl daemon-reload

if [ "$PURGE" = yes ]; then
  rm -rf "$DESTDIR$SYSCONFDIR/toolcell"
  if [ -z "$DESTDIR" ]; then
    # shellcheck disable=SC2086  # a space-separated list of user names
    for user in $users; do
      userdel "$user" 2>/dev/null || true
      if getent group "$user" >/dev/null; then groupdel "$user" 2>/dev/null || true; fi
    done
    if getent group toolcell >/dev/null; then groupdel toolcell 2>/dev/null || true; fi
  fi
  say "removed toolcell, its configuration and its users"
else
  say "removed toolcell; $SYSCONFDIR/toolcell stays (--purge removes it and the tools' users)"
fi
