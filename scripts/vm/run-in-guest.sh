#!/usr/bin/env bash
# run-in-guest.sh - run one command as root inside a throw-away Debian 12 VM whose PID 1 is systemd
# and whose /sys/fs/cgroup is a pure cgroup v2 hierarchy, with this checkout shared at /mnt/host.
#
#   scripts/vm/run-in-guest.sh [--] COMMAND [ARGS...]   boot, run COMMAND in /mnt/host, power off
#   scripts/vm/run-in-guest.sh --build                  only build the cached image (if out of date)
#
# Why a VM: the development and CI machines bind the memory/pids/cpu controllers to cgroup v1 and
# their /dev/kvm cannot run a stock kernel, so the guest runs under QEMU's software emulator (TCG).
# Follows the worked example in /work/shared/examples/boot-guest.sh, reduced to what toolcell needs.
#
# The guest
#   - Debian bookworm made by mmdebstrap from the mirror this machine's apt already uses, Debian's
#     linux-image-amd64 booted with systemd.unified_cgroup_hierarchy=1, and: systemd, dbus,
#     bubblewrap, nftables, iproute2, procps, python3, passwd (useradd), libseccomp2, plus the
#     host's node binary as /usr/local/bin/node. No compiler: dist/ (the static native helpers
#     included) and node_modules/ are used from the share, built on the host.
#   - The disk is opened with snapshot=on: every run starts from the same pristine image and
#     nothing survives but what the command writes under /mnt/host: this checkout over 9p,
#     read-write, as the user who ran this script. It is mounted with cache=loose, which halves
#     the time node takes to load dist/ and node_modules/ under TCG (a 9p round trip costs
#     milliseconds here); the price: the guest does not see what the host changes in the checkout
#     while the VM runs, and what the guest writes reaches the host when the command has ended at
#     the latest. Keep files whose owner or mode matters in the guest's own /tmp.
#   - No network interface and no stdin. The command's stdout and stderr arrive merged on our
#     stdout (through a second serial port); this script's own messages go to stderr.
#
# cgroup v2 delegation (what the daemon needs; measured in this guest)
#   Every COMMAND runs as the only process of a transient scope with Delegate=yes,
#       systemd-run --scope -p Delegate=yes --slice=guest.slice --unit=guest-command -- COMMAND...
#   so its own cgroup, /sys/fs/cgroup/guest.slice/guest-command.scope, is delegated: its
#   cgroup.controllers lists cpuset cpu io memory pids and systemd leaves its subtree alone. To use
#   it, a process first moves itself into a leaf child (the no-internal-process rule: writing
#   "+memory +pids +cpu" to cgroup.subtree_control fails with EBUSY while any process is in the
#   cgroup itself), then creates one sibling child per invocation and writes memory.max,
#   memory.swap.max, pids.max, cpu.max there; the kernel enforces them. That is what toolcell's
#   detectCgroups() does, and it succeeds when the daemon is the only process of a unit with
#   Delegate=yes, started in any of these ways:
#       systemd-run --scope -p Delegate=yes -- node bin/toolcell.js serve ...        (keeps stdio)
#       systemd-run --wait --pipe --collect -p Delegate=yes -- node bin/toolcell.js serve ...
#       a unit file with Delegate=yes (toolcell.service), started with systemctl
#   or as COMMAND itself (`run-in-guest.sh node bin/toolcell.js serve ...`). It fails with EBUSY
#   when the daemon shares the unit with another process (a shell or test runner that spawned it:
#   give each daemon its own systemd-run). Without Delegate=yes a unit gets only "memory pids"
#   (no cpu) and detectCgroups() refuses; and systemd takes such a subtree back: after
#   `systemctl daemon-reload` plus a set-property it had emptied cgroup.subtree_control and
#   removed the (empty) child cgroup. A unit without Delegate=yes can see cpu by accident when a
#   sibling in its slice is delegated; the harness's own scope lives in guest.slice, not
#   system.slice, so that it never is that sibling.
#   systemd-run (systemd 252) expands $VAR and ${VAR} in the command line it is given: pass
#   scripts through files, or write $$ for a literal $.
#
# Exit status: the command's; 124 the VM timed out; 125 the VM failed before the command finished
# (then the tail of the guest's console is printed to stderr; the console log of the last run is
# always kept as $VM_CACHE/last-console.log); 130 this script was interrupted (the VM is stopped).
#
# Environment
#   VM_CACHE    image cache (default ${XDG_CACHE_HOME:-$HOME/.cache}/toolcell-vm), holds one image
#               named by a hash of the build recipe and the node binary, so a change rebuilds it
#   VM_TIMEOUT  seconds before the VM is killed (default 900)
#   VM_MEM      guest RAM in MiB (default 3072)
#   VM_CPUS     guest vCPUs (default: this machine's)
#   VM_NODE     node binary copied into the image (default: the node on PATH)
#
# Building the image needs root (mmdebstrap, chroot); qemu-system-x86, mmdebstrap and e2fsprogs
# are installed with apt-get when they are missing.
set -euo pipefail

CHECKOUT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CACHE=${VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/toolcell-vm}
TIMEOUT=${VM_TIMEOUT:-900}
MEM=${VM_MEM:-3072}
CPUS=${VM_CPUS:-$(nproc)}
NODE=${VM_NODE:-$(command -v node || true)}
PACKAGES=systemd,systemd-sysv,dbus,mount,kmod,linux-image-amd64,initramfs-tools,bubblewrap,nftables,iproute2,procps,python3,passwd,libseccomp2,libstdc++6

log() { echo "run-in-guest: $*" >&2; }
fail() { log "$*"; exit 125; }
seconds() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# Host tools, installed quietly from the package lists on hand (refreshed only if that fails).
install_host_tools() {
  local missing=() pair apt_log
  for pair in qemu-system-x86_64:qemu-system-x86 mmdebstrap:mmdebstrap mke2fs:e2fsprogs; do
    command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" = 0 ] || fail "missing Debian packages: ${missing[*]} (run as root to install them)"
  log "installing ${missing[*]}"
  apt_log=$(mktemp)
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$apt_log" 2>&1 &&
     ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$apt_log" 2>&1; then
    cat "$apt_log" >&2; rm -f "$apt_log"; fail "apt-get could not install ${missing[*]}"
  fi
  rm -f "$apt_log"
}

# The Debian bookworm archives this machine's apt already uses, as sources.list lines.
debian_sources() {
  # shellcheck disable=SC2016  # $(...) are apt's format fields
  apt-get indextargets --format '$(RELEASE) $(REPO_URI)' 'Identifier: Packages' | sort -u |
    awk '$1 ~ /^bookworm(-updates|-security)?$/ { print "deb " $2 " " $1 " main" }'
}

# Runs inside the guest as guest-runner.service once the system is up (written into the image).
guest_runner() {
  cat <<'EOF'
#!/bin/bash
# Mount the job share (cmd.sh in; rc and marker files out) and the checkout, wait for systemd to
# finish booting, run the command in its delegated scope with its output on ttyS1 (the host's
# stdout), record its exit status, power off at once (the disk is a throw-away snapshot).
set -u
opts=trans=virtio,version=9p2000.L,msize=262144
off() { sync; systemctl poweroff --force --force; }
mkdir -p /run/job
mount -t 9p -o "$opts" job /run/job || { echo "guest-runner: cannot mount the job share" >/dev/console; off; }
mount -t 9p -o "$opts,cache=loose" host /mnt/host || { echo "cannot mount the checkout at /mnt/host" >/run/job/error; off; }
systemctl is-system-running --wait >/run/job/system-state 2>&1
: >/run/job/booted
stty -F /dev/ttyS1 raw -echo
(cd /mnt/host && exec systemd-run --quiet --scope -p Delegate=yes --slice=guest.slice --unit=guest-command -- bash /run/job/cmd.sh) \
  </dev/null >/dev/ttyS1 2>&1
echo $? >/run/job/rc
off
EOF
}

build_image() {  # $1: the directory to build into
  local out=$1 root=$1/rootfs kver used
  # shellcheck disable=SC2016  # the hook is run by mmdebstrap with $1 = the new root
  mmdebstrap --variant=apt --include="$PACKAGES" \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --essential-hook='mkdir -p "$1/etc/initramfs-tools/conf.d" "$1/usr/share/initramfs-tools/modules.d"
      printf "MODULES=list\nCOMPRESS=gzip\n" >"$1/etc/initramfs-tools/conf.d/vm.conf"
      printf "virtio_pci\nvirtio_blk\next4\ncrc32c_generic\n" >"$1/usr/share/initramfs-tools/modules.d/vm.conf"' \
    bookworm "$root" "${SOURCES[@]}" >"$out/mmdebstrap.log" 2>&1 ||
    { tail -n 30 "$out/mmdebstrap.log" >&2; fail "mmdebstrap failed (log: $out/mmdebstrap.log)"; }

  echo guest >"$root/etc/hostname"
  printf '127.0.0.1 localhost\n127.0.1.1 guest\n' >"$root/etc/hosts"
  : >"$root/etc/fstab"   # the kernel mounts the root read-write; the runner mounts the shares
  mkdir -p "$root/mnt/host" "$root/etc/systemd/journald.conf.d"
  printf '[Journal]\nStorage=volatile\n' >"$root/etc/systemd/journald.conf.d/vm.conf"
  printf '9pnet_virtio\n9p\n' >"$root/etc/modules-load.d/9p.conf"
  # Nobody logs in, there is no hotplug hardware (the initramfs loads the disk driver, the kernel
  # autoloads nf_tables, veth, ...), and no periodic maintenance is wanted in a test VM.
  local unit
  for unit in getty@tty1.service serial-getty@ttyS0.service \
      systemd-udevd.service systemd-udevd-control.socket systemd-udevd-kernel.socket \
      systemd-udev-trigger.service systemd-udev-settle.service \
      apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer \
      e2scrub_reap.service fstrim.timer systemd-tmpfiles-clean.timer \
      modprobe@configfs.service modprobe@dm_mod.service modprobe@drm.service modprobe@efi_pstore.service \
      modprobe@fuse.service modprobe@loop.service sys-kernel-config.mount sys-kernel-debug.mount \
      sys-kernel-tracing.mount dev-hugepages.mount; do
    ln -sf /dev/null "$root/etc/systemd/system/$unit"
  done

  # Modules for hardware this VM does not have (hundreds of MB); netfilter, fs, crypto stay.
  kver=$(ls "$root/lib/modules")
  find "$root/lib/modules/$kver/kernel/drivers" -mindepth 1 -maxdepth 1 \
    ! -name virtio ! -name block ! -name char ! -name net -exec rm -rf {} +
  rm -rf "$root/lib/modules/$kver/kernel/sound" "$root/lib/modules/$kver/kernel/drivers/net/"{ethernet,wireless,usb,can}
  chroot "$root" depmod "$kver"

  install -m 0755 "$NODE" "$root/usr/local/bin/node"
  guest_runner >"$root/usr/local/sbin/guest-runner"
  chmod 0755 "$root/usr/local/sbin/guest-runner"
  cat >"$root/etc/systemd/system/guest-runner.service" <<'EOF'
[Unit]
Description=Run the host's command, then power off
After=multi-user.target
[Service]
Type=simple
Environment=HOME=/root LANG=C.UTF-8
ExecStart=/usr/local/sbin/guest-runner
StandardOutput=journal+console
[Install]
WantedBy=multi-user.target
EOF
  ln -sf ../guest-runner.service "$root/etc/systemd/system/multi-user.target.wants/guest-runner.service"

  # A small initramfs without udev: the kernel's devtmpfs has /dev/vda by itself.
  rm -f "$root/usr/share/initramfs-tools/hooks/udev" "$root/usr/share/initramfs-tools/scripts/init-top/udev" \
        "$root/usr/share/initramfs-tools/scripts/init-bottom/udev"
  chroot "$root" update-initramfs -u -k "$kver" >"$out/initramfs.log" 2>&1 ||
    { cat "$out/initramfs.log" >&2; fail "update-initramfs failed"; }
  cp "$root/boot/initrd.img-$kver" "$out/initrd.img"
  # QEMU boots an uncompressed vmlinux through its PVH entry point, which skips the BIOS real-mode
  # setup and the in-guest xz decompression (several seconds under TCG). The guest's python3 unpacks it.
  chroot "$root" python3 - "/boot/vmlinuz-$kver" >"$out/vmlinux" <<'EOF'
import lzma, sys
data = open(sys.argv[1], 'rb').read()
start = data.find(b'\xfd7zXZ\x00')
if start < 0: sys.exit('vmlinuz is not xz-compressed')
sys.stdout.buffer.write(lzma.LZMADecompressor().decompress(data[start:]))
EOF
  rm -rf "${root:?}/boot/"*

  used=$(du -sm "$root" | cut -f1)
  mke2fs -q -t ext4 -L root -E root_owner=0:0 -d "$root" "$out/root.img" "$((used + 2048))M" >/dev/null
  rm -rf "$root"
}

# The image is named by a hash of its recipe (the functions above, the package list) and the
# node binary it carries; a different hash means a rebuild, and only the newest image is kept.
ensure_image() {
  install_host_tools
  [ -x "$NODE" ] || fail "no node binary to copy into the image (set VM_NODE)"
  local key t0
  key=$({ declare -f guest_runner build_image; echo "$PACKAGES"; sha256sum <"$NODE"; } | sha256sum | cut -c1-16)
  IMAGE=$CACHE/image-$key
  [ -f "$IMAGE/root.img" ] && return 0
  [ "$(id -u)" = 0 ] || fail "building the image needs root (mmdebstrap, chroot)"
  mkdir -p "$CACHE"
  exec 9>"$CACHE/build.lock"
  flock 9                                   # another run may be building the same image
  if [ ! -f "$IMAGE/root.img" ]; then
    mapfile -t SOURCES < <(debian_sources)
    [ ${#SOURCES[@]} -gt 0 ] || fail "no Debian bookworm archive in this machine's apt sources"
    log "building image $key from ${SOURCES[0]#deb } ..."
    t0=$(date +%s.%N)
    rm -rf "$IMAGE.tmp" && mkdir -p "$IMAGE.tmp"
    build_image "$IMAGE.tmp"
    find "$CACHE" -mindepth 1 -maxdepth 1 -name 'image-*' ! -name "image-$key.tmp" -exec rm -rf {} +
    mv "$IMAGE.tmp" "$IMAGE"
    log "image built in $(seconds "$t0" "$(date +%s.%N)") s, $(du -sh "$IMAGE" | cut -f1) on disk"
  fi
  exec 9>&-
}

[ "${1:-}" = "--" ] && shift
case "${1:-}" in
  --build) ensure_image; log "image ready: $IMAGE"; exit 0 ;;
  ''|-h|--help) sed -n '2,6p' "$0" >&2; exit 2 ;;
esac
ensure_image

JOB=$(mktemp -d "${TMPDIR:-/tmp}/run-in-guest.XXXXXX")
trap 'rm -rf "$JOB"' EXIT
{ printf exec; printf ' %q' "$@"; echo; } >"$JOB/cmd.sh"

t0=$(date +%s.%N)
# ttyS0 is the guest's console (to a file), ttyS1 carries the command's output to our stdout.
# qemu runs in the background so that a signal to this script (Ctrl-C, a test runner's kill)
# stops the VM instead of leaving it running until the timeout.
timeout -k 10 "$TIMEOUT" qemu-system-x86_64 -nodefaults -no-user-config -display none -no-reboot \
  -machine pc -accel tcg,thread=multi -cpu max -smp "$CPUS" -m "$MEM" \
  -kernel "$IMAGE/vmlinux" -initrd "$IMAGE/initrd.img" \
  -append "root=/dev/vda rootfstype=ext4 rw console=ttyS0 panic=-1 quiet systemd.show_status=error systemd.unified_cgroup_hierarchy=1 mitigations=off tsc=reliable no_timer_check cryptomgr.notests i8042.noaux i8042.nokbd i8042.nopnp audit=0" \
  -drive "file=$IMAGE/root.img,if=virtio,format=raw,snapshot=on,cache=unsafe" \
  -virtfs "local,path=$JOB,mount_tag=job,security_model=none" \
  -virtfs "local,path=$CHECKOUT,mount_tag=host,security_model=none" \
  -serial "file:$JOB/console.log" \
  -chardev stdio,id=out,signal=off -device isa-serial,chardev=out \
  </dev/null &
vm=$! qemu_rc=0 stopped=
trap 'stopped=1; kill -TERM "$vm" 2>/dev/null' INT TERM HUP
wait "$vm" || qemu_rc=$?
while kill -0 "$vm" 2>/dev/null; do wait "$vm" || qemu_rc=$?; done   # a signal ends wait early
t_end=$(date +%s.%N)
cp "$JOB/console.log" "$CACHE/last-console.log" 2>/dev/null || true

if [ -n "$stopped" ]; then log "interrupted: the VM was stopped"; exit 130; fi
if [ -f "$JOB/rc" ]; then
  rc=$(cat "$JOB/rc")
  booted=$(stat -c %.3Y "$JOB/booted"); finished=$(stat -c %.3Y "$JOB/rc")   # host clock (9p)
  log "exit $rc; boot $(seconds "$t0" "$booted") s, command $(seconds "$booted" "$finished") s," \
      "power-off $(seconds "$finished" "$t_end") s, total $(seconds "$t0" "$t_end") s"
  exit "$rc"
fi
if [ "$qemu_rc" = 124 ] || [ "$qemu_rc" = 137 ]; then
  rc=124; log "timed out after $TIMEOUT s"
else
  rc=125; log "the VM stopped (qemu exit $qemu_rc) before the command finished"
fi
[ -f "$JOB/error" ] && log "guest: $(cat "$JOB/error")"
log "guest console (last 40 lines; all of it in $CACHE/last-console.log):"
tail -n 40 "$JOB/console.log" >&2 || true
exit "$rc"
