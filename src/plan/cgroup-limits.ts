// Profile limits → the values the kernel's cgroup files take, for both hierarchies. Pure: the
// mechanism in linux/cgroup.ts only writes what this returns, in this order.
import type { Profile } from '../profile/profile.js';

export interface CgroupLimits {
  readonly memoryBytes: number;
  /** Swap on top of memory; 0 means no swap. */
  readonly swapBytes: number;
  readonly pids: number;
  /** CPU bandwidth: quota per period, in microseconds. */
  readonly cpuQuotaUs: number;
  readonly cpuPeriodUs: number;
}

export const CPU_PERIOD_US = 100_000;

/**
 * bwrap's monitor, the process outside the sandbox that waits for it, is in the invocation cgroup
 * too (run-as joins the cgroup before it execs bwrap): pids.max has room for it on top of the
 * profile's `pids`, and the peak reported leaves it out, so `pids` stays what the sandbox gets.
 */
export const MONITOR_PIDS = 1;

export function planCgroupLimits(profile: Profile): CgroupLimits {
  return {
    memoryBytes: profile.limits.memory,
    swapBytes: profile.limits.memory_swap,
    pids: profile.limits.pids + MONITOR_PIDS,
    cpuQuotaUs: Math.max(1000, Math.round(profile.limits.cpu * CPU_PERIOD_US)),
    cpuPeriodUs: CPU_PERIOD_US,
  };
}

export interface CgroupWrite {
  /** v1: the controller's hierarchy; v2: always "unified". */
  readonly controller: 'memory' | 'pids' | 'cpu' | 'unified';
  readonly file: string;
  readonly value: string;
  /** Files some kernels lack (swap accounting off): skipped when absent. */
  readonly optional?: boolean;
}

/** cgroup v1: memory before memory+swap (the kernel refuses memsw below memory). */
export function toV1Writes(l: CgroupLimits): CgroupWrite[] {
  return [
    { controller: 'memory', file: 'memory.limit_in_bytes', value: String(l.memoryBytes) },
    { controller: 'memory', file: 'memory.memsw.limit_in_bytes', value: String(l.memoryBytes + l.swapBytes), optional: true },
    { controller: 'memory', file: 'memory.swappiness', value: l.swapBytes === 0 ? '0' : '60', optional: true },
    // v1 charges TCP buffers to a cgroup only once this is written (v2 always does): without it a
    // tool's unread TCP pairs over its own lo hold kernel memory past every limit.
    { controller: 'memory', file: 'memory.kmem.tcp.limit_in_bytes', value: String(l.memoryBytes), optional: true },
    { controller: 'pids', file: 'pids.max', value: String(l.pids) },
    { controller: 'cpu', file: 'cpu.cfs_period_us', value: String(l.cpuPeriodUs) },
    { controller: 'cpu', file: 'cpu.cfs_quota_us', value: String(l.cpuQuotaUs) },
  ];
}

/** cgroup v2: memory.oom.group so an OOM takes the whole sandbox, not one process of it. */
export function toV2Writes(l: CgroupLimits): CgroupWrite[] {
  return [
    { controller: 'unified', file: 'memory.max', value: String(l.memoryBytes) },
    { controller: 'unified', file: 'memory.swap.max', value: String(l.swapBytes), optional: true },
    { controller: 'unified', file: 'memory.oom.group', value: '1' },
    { controller: 'unified', file: 'pids.max', value: String(l.pids) },
    { controller: 'unified', file: 'cpu.max', value: `${l.cpuQuotaUs} ${l.cpuPeriodUs}` },
  ];
}
