// Where a call's cost comes from, step by step, without the daemon: each row adds one part of what
// toolcell does to the row before it, one call at a time, in interleaved rounds (the machine's
// noise moves all rows alike). Not a test; test/e2e/bench-smoke runs it tiny.
// Its options are in USAGE below.
//
// 1. floor: bare bwrap running the tool (as in `npm run bench`);
// 2. held: the same bwrap holding sandbox-exec until released, then handed the argv;
// 3. held + cgroup: its pid 1 placed in a fresh invocation cgroup first, which is removed after;
// 4. runInvocation: a whole call in this process (host facts, plan, build, run, usage, teardown).
import { runInvocation } from '../../src/invocation/run-invocation.js';
import { cgroupSetup, reserveInvocationCgroup } from '../../src/linux/cgroup.js';
import { spawnSandbox } from '../../src/linux/sandbox-process.js';
import { spawnProcess } from '../../src/linux/spawn-process.js';
import { encodeArgv } from '../../src/plan/bwrap-command.js';
import { planCgroupLimits } from '../../src/plan/cgroup-limits.js';
import { becomeChildSubreaper } from '../../native/libc.js';
import { cgroupParentsCleanup } from '../helpers/cgroup-parents.js';
import { createToolUsers, silentLogger } from '../helpers/fixtures.js';
import { f1, measure, noopSandbox, type Stats } from './measure.js';
import { benchOptions, parseCount } from './options.js';
import type { PipeWriter } from '../../src/linux/pipe-writer.js';

const USAGE = 'node dist/test/bench/steps.js [--calls N] [--rounds N]';
const OPTIONS = { options: { calls: { type: 'string', default: '200' }, rounds: { type: 'string', default: '3' } } } as const;
const { CALLS, ROUNDS } = benchOptions('steps', USAGE, OPTIONS, (values) => ({
  CALLS: parseCount('--calls', values.calls, 1),
  ROUNDS: parseCount('--rounds', values.rounds, 1),
}));

async function main(): Promise<void> {
  // As the daemon is: a sandbox's pid 1 that outlives a killed bwrap is reaped here.
  becomeChildSubreaper();
  const removeCgroupParents = cgroupParentsCleanup('steps');
  const removeUsers = await createToolUsers(['noop']);
  try {
    const { tool, plan, cmd, bareArgv, inputs } = await noopSandbox();
    const setup = cgroupSetup();
    const held = async (withCgroup: boolean): Promise<boolean> => {
      const cgroup = withCgroup && setup.mode !== 'none' ? reserveInvocationCgroup(setup, planCgroupLimits(tool.profile)) : undefined;
      const sandbox = await spawnSandbox(cmd, tool.user, inputs, cgroup?.steps);
      await sandbox.started;
      sandbox.release();
      sandbox.run(encodeArgv(plan.argv));
      sandbox.stdout.resume();
      sandbox.stderr.resume();
      const { code } = await sandbox.exited;
      cgroup?.usage();
      await sandbox.gone;
      await cgroup?.dispose();
      return code === 0;
    };
    const steps: [string, () => Promise<boolean>][] = [
      [
        '1. floor: bare bwrap runs the tool',
        async () => {
          const child = await spawnProcess(cmd.file, bareArgv, { user: tool.user, stdio: ['null', 'null', 'null', 'null', 'null', 'write'] });
          (child.streams[5] as PipeWriter).end(inputs[0]);
          return (await child.exited).code === 0;
        },
      ],
      ['2. held: bwrap holds sandbox-exec, then gets the argv', () => held(false)],
      [`3. held + cgroup (${setup.mode})`, () => held(true)],
      ['4. runInvocation: a whole call, in-process', async () => (await runInvocation(tool, {}, { logger: silentLogger })).exitCode === 0],
    ];
    const results = new Map<string, Stats[]>(steps.map(([name]) => [name, []]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, one] of steps) results.get(name)!.push(await measure(CALLS, 1, one));
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
    const rows = [
      `toolcell steps: ${CALLS} calls a step, one at a time, ${ROUNDS} interleaved rounds (medians of the rounds)`,
      '',
      '| step | p50 ms | calls/s | CPU ms per call (machine) | of it this process | errors |',
      '|---|---|---|---|---|---|',
      ...[...results].map(([name, s]) => {
        const m = (f: (x: Stats) => number) => f1(median(s.map(f)));
        return `| ${name} | ${m((x) => x.p50)} | ${m((x) => x.perSecond)} | ${m((x) => x.cpuMs + x.ownCpuMs)} | ${m((x) => x.ownCpuMs)} | ${s.reduce((a, x) => a + x.errors, 0)} |`;
      }),
    ];
    process.stdout.write(`${rows.join('\n')}\n`);
  } finally {
    await removeUsers();
    removeCgroupParents();
  }
}

main().catch((e: Error) => {
  process.stderr.write(`steps: ${e.stack ?? e.message}\n`);
  process.exitCode = 1;
});
