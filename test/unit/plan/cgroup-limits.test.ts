import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { planCgroupLimits, toV1Writes, toV2Writes } from '../../../src/plan/cgroup-limits.js';
import { profileFrom } from '../../helpers/fixtures.js';

describe('cgroup limits (pure)', () => {
  const limits = planCgroupLimits(profileFrom('t', 'description = "d"\ncommand = ["/bin/true"]\n[limits]\nmemory = "128M"\npids = 32\ncpu = 0.5\n'));

  test('profile limits become kernel values; swap off by default; pids has room for bwrap\'s monitor', () => {
    assert.deepEqual(limits, { memoryBytes: 128 * 1024 * 1024, swapBytes: 0, pids: 33, cpuQuotaUs: 50_000, cpuPeriodUs: 100_000 });
  });

  test('defaults when the profile is silent: 256M, no swap, 64 pids (65 with bwrap\'s monitor), one core', () => {
    assert.deepEqual(planCgroupLimits(profileFrom('t', 'description = "d"\ncommand = ["/bin/true"]\n')), {
      memoryBytes: 256 * 1024 * 1024,
      swapBytes: 0,
      pids: 65,
      cpuQuotaUs: 100_000,
      cpuPeriodUs: 100_000,
    });
  });

  test('v1 writes: memory before memory+swap, TCP buffers charged, quota after period', () => {
    assert.deepEqual(
      toV1Writes(limits).map((w) => `${w.controller}/${w.file}=${w.value}${w.optional ? '?' : ''}`),
      [
        'memory/memory.limit_in_bytes=134217728',
        'memory/memory.memsw.limit_in_bytes=134217728?',
        'memory/memory.swappiness=0?',
        'memory/memory.kmem.tcp.limit_in_bytes=134217728?',
        'pids/pids.max=33',
        'cpu/cpu.cfs_period_us=100000',
        'cpu/cpu.cfs_quota_us=50000',
      ],
    );
  });

  test('v2 writes: the whole sandbox is one OOM unit', () => {
    assert.deepEqual(
      toV2Writes(limits).map((w) => `${w.file}=${w.value}`),
      ['memory.max=134217728', 'memory.swap.max=0', 'memory.oom.group=1', 'pids.max=33', 'cpu.max=50000 100000'],
    );
  });

  test('memory_swap adds swap on top of memory', () => {
    const withSwap = planCgroupLimits(profileFrom('t', 'description = "d"\ncommand = ["/bin/true"]\n[limits]\nmemory = "64M"\nmemory_swap = "32M"\n'));
    assert.equal(toV1Writes(withSwap)[1]!.value, String(96 * 1024 * 1024));
  });
});
