// The syscall baseline every tool gets unless its profile takes entries out ([seccomp] allow).
// Each group says why its calls are there. Namespaces, a dedicated uid and no capabilities already
// stop most of these; the filter removes the kernel surface itself, which is what escapes go through.
// Names that do not exist on this architecture are skipped when the filter is compiled.

/** One argument comparison, as libseccomp takes it (SCMP_CMP_*). */
export interface ArgCheck {
  readonly arg: number;
  readonly op: 'eq' | 'gt' | 'masked_eq';
  readonly value: bigint;
  /** For masked_eq: (arg & mask) == value. */
  readonly mask?: bigint;
}

/** A denied call: the whole syscall, or only when every ArgCheck holds. */
export interface SyscallRule {
  readonly syscall: string;
  readonly when?: readonly ArgCheck[];
}

const all = (...names: string[]): SyscallRule[] => names.map((syscall) => ({ syscall }));

const CLONE_NEW = {
  CLONE_NEWTIME: 0x80n,
  CLONE_NEWNS: 0x20000n,
  CLONE_NEWCGROUP: 0x2000000n,
  CLONE_NEWUTS: 0x4000000n,
  CLONE_NEWIPC: 0x8000000n,
  CLONE_NEWUSER: 0x10000000n,
  CLONE_NEWPID: 0x20000000n,
  CLONE_NEWNET: 0x40000000n,
};
const AF_INET = 2n;
const AF_INET6 = 10n;
const TIOCSTI = 0x5412n;
const TIOCLINUX = 0x541cn;
const TIOCSETD = 0x5423n;
const S_ISUID = 0o4000n;
const S_ISGID = 0o2000n;
const LOW32 = 0xffffffffn;

export const GROUPS: Readonly<Record<string, { readonly why: string; readonly rules: readonly SyscallRule[] }>> = {
  '@mount': {
    why: 'mounting and moving file systems would rearrange the sandbox from inside',
    rules: all('mount', 'umount2', 'pivot_root', 'move_mount', 'open_tree', 'open_tree_attr', 'fsopen', 'fsconfig', 'fsmount', 'fspick', 'mount_setattr', 'chroot'),
  },
  '@namespaces': {
    why: 'new namespaces are where most container escapes start; clone3 is filtered out entirely (its flags live in memory the filter cannot read) and glibc falls back to clone, whose flags are checked',
    rules: [
      ...all('unshare', 'setns'),
      ...Object.values(CLONE_NEW).map((flag) => ({ syscall: 'clone', when: [{ arg: 0, op: 'masked_eq' as const, value: flag, mask: flag }] })),
    ],
  },
  '@module': { why: 'kernel modules are the kernel', rules: all('init_module', 'finit_module', 'delete_module') },
  '@reboot': { why: 'rebooting or replacing the kernel', rules: all('reboot', 'kexec_load', 'kexec_file_load') },
  '@swap': { why: 'swap belongs to the host', rules: all('swapon', 'swapoff') },
  '@clock': { why: 'the clock is shared with the host', rules: all('settimeofday', 'clock_settime', 'clock_adjtime', 'adjtimex') },
  '@keyring': { why: 'kernel keyrings are not namespaced and have had many bugs', rules: all('add_key', 'request_key', 'keyctl') },
  '@debug': {
    why: 'reading or steering other processes, and perf counters (a long list of kernel bugs)',
    rules: all('ptrace', 'process_vm_readv', 'process_vm_writev', 'perf_event_open', 'kcmp', 'lookup_dcookie'),
  },
  '@raw-io': { why: 'direct port and device I/O', rules: all('ioperm', 'iopl', 'pciconfig_iobase', 'pciconfig_read', 'pciconfig_write') },
  '@obsolete': {
    why: 'old calls nothing needs, kept only as attack surface',
    rules: all('_sysctl', 'afs_syscall', 'create_module', 'get_kernel_syms', 'getpmsg', 'putpmsg', 'query_module', 'security', 'sysfs', 'tuxcall', 'uselib', 'ustat', 'vserver', 'nfsservctl'),
  },
  '@cpu-emulation': { why: 'segment and vm86 tricks', rules: all('modify_ldt', 'vm86', 'vm86old', 'subpage_prot') },
  '@privileged': {
    why: 'administration of the host: accounting, quotas, the kernel log, file handles that bypass paths',
    rules: all('acct', 'quotactl', 'quotactl_fd', 'syslog', 'vhangup', 'open_by_handle_at', 'name_to_handle_at'),
  },
  '@bpf': { why: 'eBPF programs run in the kernel', rules: all('bpf') },
  '@userfaultfd': { why: 'userfaultfd turns kernel races into reliable exploits', rules: all('userfaultfd') },
  '@io-uring': { why: 'io_uring bypasses this very filter and has had many bugs', rules: all('io_uring_setup', 'io_uring_enter', 'io_uring_register') },
  '@personality': {
    why: 'execution domains and flags such as ADDR_NO_RANDOMIZE change how the kernel treats the process; personality(0) and the query personality(0xffffffff) stay allowed',
    rules: personalityChanges(),
  },
  '@tty-injection': {
    why: 'TIOCSTI pushes input into a terminal, TIOCLINUX can read the console: both cross into the terminal owner; TIOCSETD loads line disciplines (n_gsm, n_hdlc: kernel modules with a record of escalations)',
    rules: [TIOCSTI, TIOCLINUX, TIOCSETD].map((cmd) => ({ syscall: 'ioctl', when: [{ arg: 1, op: 'masked_eq' as const, value: cmd, mask: LOW32 }] })),
  },
  '@socket-protocols': {
    why: 'AF_INET and AF_INET6 only with protocol 0, ICMP, TCP, UDP or ICMPv6: a socket of another (SCTP, L2TP, DCCP, ...) makes the kernel load its module, from inside the sandbox',
    rules: socketProtocols(),
  },
  '@setuid-files': {
    why: 'a setuid or setgid file made in a writable path runs on the host as the tool\'s user, for any local user (reading its sandboxes\' secrets from /proc); openat2 (its mode is in memory the filter cannot read) answers ENOSYS',
    rules: [
      ...(
        [
          ['chmod', 1],
          ['fchmod', 1],
          ['fchmodat', 2],
          ['fchmodat2', 2],
          ['creat', 1],
          ['open', 2],
          ['openat', 3],
          ['mknod', 1],
          ['mknodat', 2],
        ] as const
      ).flatMap(([syscall, arg]) => [S_ISUID, S_ISGID].map((bit) => ({ syscall, when: [{ arg, op: 'masked_eq' as const, value: bit, mask: bit }] }))),
    ],
  },
  '@socket-families': {
    why: 'only AF_UNIX, AF_INET and AF_INET6: netlink, packet, vsock (not namespaced at all) and the rest are kernel surface no tool needs',
    rules: ['socket', 'socketpair'].flatMap((syscall) => [
      // Everything but 1, 2 and 10; any value with bits above 32 set is also above 10.
      ...[0n, 3n, 4n, 5n, 6n, 7n, 8n, 9n].map((family) => ({ syscall, when: [{ arg: 0, op: 'eq' as const, value: family }] })),
      { syscall, when: [{ arg: 0, op: 'gt' as const, value: AF_INET6 }] },
    ]),
  },
};

/**
 * personality(x) for every 32-bit x except 0 and 0xffffffff. libseccomp takes one comparison per
 * argument in a rule, so "neither all zeros nor all ones" is written as: some bit k is 1 and bit
 * k+1 (cyclically) is 0, which is true exactly for the non-constant bit strings. 32 rules.
 */
function personalityChanges(): SyscallRule[] {
  return Array.from({ length: 32 }, (_, k) => {
    const bit = 1n << BigInt(k);
    const next = 1n << BigInt((k + 1) % 32);
    return { syscall: 'personality', when: [{ arg: 0, op: 'masked_eq' as const, value: bit, mask: bit | next }] };
  });
}

/**
 * socket(AF_INET or AF_INET6, type, protocol) for every protocol but 0, 1 (ICMP), 6 (TCP), 17
 * (UDP) and 58 (ICMPv6), in ranges libseccomp can test with one comparison each: a masked value
 * for each aligned block, and "above 58" (which also holds for any value with bits above 32 set).
 * Other families' protocols are their own (netlink's, where @socket-families is allowed).
 */
function socketProtocols(): SyscallRule[] {
  // [first, size]: sizes are powers of two and each block is aligned to its size.
  const blocks: [bigint, bigint][] = [[2n, 2n], [4n, 2n], [7n, 1n], [8n, 8n], [16n, 1n], [18n, 2n], [20n, 4n], [24n, 8n], [32n, 16n], [48n, 8n], [56n, 2n]];
  const protocols: ArgCheck[] = [
    ...blocks.map(([first, size]) => ({ arg: 2, op: 'masked_eq' as const, value: first, mask: ~(size - 1n) & 0xffffffffffffffffn })),
    { arg: 2, op: 'gt' as const, value: 58n },
  ];
  return [AF_INET, AF_INET6].flatMap((family) => protocols.map((p) => ({ syscall: 'socket', when: [{ arg: 0, op: 'eq' as const, value: family }, p] })));
}

/**
 * Answered with ENOSYS, never EPERM or a kill: glibc then falls back to clone, which is filtered;
 * callers of openat2 fall back to openat, whose mode is.
 */
export const ENOSYS_SYSCALLS = ['clone3', 'openat2'] as const;
