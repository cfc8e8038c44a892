// libseccomp through koffi: rules in, classic BPF out. libseccomp 2.5 (Debian 12) has no
// export-to-memory call, so the program is exported into a memfd and read back.
import { closeSync, readSync } from 'node:fs';
import koffi from 'koffi';

export const SCMP_ACT_ALLOW = 0x7fff0000;
export const SCMP_ACT_LOG = 0x7ffc0000;
export const SCMP_ACT_KILL_PROCESS = 0x80000000;
export const scmpActErrno = (errno: number) => (0x00050000 | (errno & 0xffff)) >>> 0;

const SCMP_FLTATR_ACT_BADARCH = 2;
const CMP = { ne: 1, lt: 2, le: 3, eq: 4, ge: 5, gt: 6, masked_eq: 7 } as const;

export interface NativeArgCmp {
  readonly arg: number;
  readonly op: keyof typeof CMP;
  readonly a: bigint;
  readonly b: bigint;
}

interface Lib {
  init: (def: number) => unknown;
  release: (ctx: unknown) => void;
  resolve: (name: string) => number;
  attrSet: (ctx: unknown, attr: number, value: number) => number;
  ruleAdd: (ctx: unknown, action: number, syscall: number, count: number, args: unknown[]) => number;
  exportBpf: (ctx: unknown, fd: number) => number;
  memfdCreate: (name: string, flags: number) => number;
  resolveNum: (arch: number, num: number) => unknown;
  nativeArch: () => number;
  free: (ptr: unknown) => void;
}

let lib: Lib | undefined;

function load(): Lib {
  if (lib) return lib;
  const seccomp = koffi.load('libseccomp.so.2');
  const libc = koffi.load('libc.so.6');
  const ArgCmp = koffi.struct('scmp_arg_cmp', { arg: 'uint32', op: 'int', datum_a: 'uint64', datum_b: 'uint64' });
  lib = {
    init: seccomp.func('void *seccomp_init(uint32_t def_action)') as unknown as Lib['init'],
    release: seccomp.func('void seccomp_release(void *ctx)') as unknown as Lib['release'],
    resolve: seccomp.func('int seccomp_syscall_resolve_name(const char *name)') as unknown as Lib['resolve'],
    attrSet: seccomp.func('int seccomp_attr_set(void *ctx, int attr, uint32_t value)') as unknown as Lib['attrSet'],
    ruleAdd: seccomp.func('seccomp_rule_add_array', 'int', ['void *', 'uint32_t', 'int', 'uint32_t', koffi.pointer(ArgCmp)]) as unknown as Lib['ruleAdd'],
    exportBpf: seccomp.func('int seccomp_export_bpf(void *ctx, int fd)') as unknown as Lib['exportBpf'],
    memfdCreate: libc.func('int memfd_create(const char *name, unsigned int flags)') as unknown as Lib['memfdCreate'],
    resolveNum: seccomp.func('void *seccomp_syscall_resolve_num_arch(uint32_t arch_token, int num)') as unknown as Lib['resolveNum'],
    nativeArch: seccomp.func('uint32_t seccomp_arch_native(void)') as unknown as Lib['nativeArch'],
    free: libc.func('void free(void *ptr)') as unknown as Lib['free'],
  };
  return lib;
}

/**
 * Calls newer than the libseccomp of the host (Debian 12's 2.5.4) that the baseline denies. From 424
 * on, a syscall has the same number on every architecture, so the number stands for the name.
 */
const NEWER_SYSCALLS: Readonly<Record<string, number>> = { open_tree_attr: 467 };

/** The syscall number on this architecture, or undefined when it has no such call. */
export function resolveSyscall(name: string): number | undefined {
  const nr = load().resolve(name);
  return nr >= 0 ? nr : NEWER_SYSCALLS[name];
}

const SCMP_ARCH_NATIVE = 0;
/** libseccomp's architecture tokens are the kernel's AUDIT_ARCH values, as audit records give them. */
const AUDIT_ARCH_X86_64 = 0xc000003e;
const SCMP_ARCH_X32 = 0x4000003e;
const X32_SYSCALL_BIT = 0x40000000;
const FOREIGN_ABI: Readonly<Record<number, string>> = { 0x40000003: 'i386', [SCMP_ARCH_X32]: 'x32' };

/**
 * The name of a syscall as an audit record gives it (`arch`, `nr`; libseccomp's tables), or "#NR".
 * A call through a foreign ABI (which the filter kills) is named with it, "i386:getpid" or
 * "x32:getpid": its number means another call in the native table.
 */
export function syscallName(nr: number, arch?: number): string {
  const l = load();
  let token = arch ?? SCMP_ARCH_NATIVE;
  if (arch === AUDIT_ARCH_X86_64 && (nr & X32_SYSCALL_BIT) !== 0) token = SCMP_ARCH_X32;
  const abi = token === SCMP_ARCH_NATIVE || token === l.nativeArch() ? '' : `${FOREIGN_ABI[token] ?? `arch 0x${token.toString(16)}`}:`;
  const ptr = l.resolveNum(token, nr);
  if (!ptr) return `${abi}#${nr}`;
  try {
    return abi + (koffi.decode(ptr, 'char', -1) as string);
  } finally {
    l.free(ptr);
  }
}

export interface NativeRule {
  readonly action: number;
  readonly syscall: number;
  readonly args: readonly NativeArgCmp[];
  /** For error messages. */
  readonly label: string;
}

const MFD_CLOEXEC = 1;

/**
 * Compiles a filter: default ALLOW, the given rules, and every foreign architecture (i386 through
 * int 0x80, x32) killed, since the rules are written for this ABI's syscall numbers only.
 */
export function compileFilter(rules: readonly NativeRule[]): Buffer {
  const l = load();
  const ctx = l.init(SCMP_ACT_ALLOW);
  if (!ctx) throw new Error('seccomp_init failed');
  try {
    const rc = l.attrSet(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
    if (rc !== 0) throw new Error(`seccomp_attr_set(ACT_BADARCH): errno ${-rc}`);
    for (const r of rules) {
      const args = r.args.map((c) => ({ arg: c.arg, op: CMP[c.op], datum_a: c.a, datum_b: c.b }));
      const added = l.ruleAdd(ctx, r.action >>> 0, r.syscall, args.length, args);
      if (added !== 0) throw new Error(`seccomp_rule_add(${r.label}): errno ${-added}`);
    }
    const fd = l.memfdCreate('toolcell-seccomp', MFD_CLOEXEC);
    if (fd < 0) throw new Error(`memfd_create failed (errno ${koffi.errno()})`);
    try {
      const exported = l.exportBpf(ctx, fd);
      if (exported !== 0) throw new Error(`seccomp_export_bpf: errno ${-exported}`);
      const chunks: Buffer[] = [];
      for (let pos = 0; ; ) {
        const buf = Buffer.alloc(65536);
        const n = readSync(fd, buf, 0, buf.length, pos);
        if (n === 0) break;
        chunks.push(buf.subarray(0, n));
        pos += n;
      }
      return Buffer.concat(chunks);
    } finally {
      closeSync(fd);
    }
  } finally {
    l.release(ctx);
  }
}
