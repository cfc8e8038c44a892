// Isolate: one sandbox, built up to the point where only the tool's argv is missing. Its cgroup
// exists and holds it, its network is wired, and sandbox-exec waits for the argv on its stdin.
// The same function serves a call that builds its own sandbox and the ready pool that builds
// them ahead of demand, so there is one way a sandbox comes to be. Every step that builds
// something pushes its undo onto the sandbox's teardown stack first.
import type { Logger } from 'pino';
import { toBwrapCommand, toBwrapInputs } from '../plan/bwrap-command.js';
import { planCgroupLimits } from '../plan/cgroup-limits.js';
import { planEnclosure, type SandboxEnclosure } from '../plan/sandbox-plan.js';
import { toSecretInputs } from '../plan/secret-args.js';
import type { ServedTool } from '../profile/load-tools.js';
import { boundedWait } from '../linux/bounded-wait.js';
import { cgroupSetup, reserveInvocationCgroup, type InvocationCgroup } from '../linux/cgroup.js';
import { gatherHostFacts } from '../linux/gather-host-facts.js';
import { spawnSandbox, type SandboxProcess } from '../linux/sandbox-process.js';
import { wireSandboxNetwork, type WiredNetwork } from '../linux/sandbox-network.js';
import { collectSecrets } from './collect-secrets.js';
import type { SecretValue } from './mask-secrets.js';
import { TeardownStack } from './teardown-stack.js';

export interface BuiltSandbox {
  readonly id: string;
  readonly tool: ServedTool;
  readonly enclosure: SandboxEnclosure;
  readonly process: SandboxProcess;
  readonly cgroup: InvocationCgroup | undefined;
  readonly network: WiredNetwork | undefined;
  readonly networkSetupMs: number | undefined;
  /** The secrets' values, to mask them in the output. */
  readonly secrets: readonly SecretValue[];
  /** bwrap gave up before the sandbox stood (its stderr says why); no tool can run in it. */
  readonly failed: boolean;
  /** Undoes everything above, newest first; run it once the sandbox is done with. */
  readonly teardown: TeardownStack;
}

const KILL_GRACE_MS = 5_000;

/** The sandbox's pid 1 gone after a kill, or the grace for that over: whichever comes first. */
export function goneOrGrace(sandbox: SandboxProcess): Promise<unknown> {
  return boundedWait(sandbox.gone, KILL_GRACE_MS);
}

/** Runs a teardown and logs what it could not undo; returns the receipt for the audit record. */
export async function runTeardown(teardown: TeardownStack, log: Logger): Promise<Record<string, string>> {
  const receipt = await teardown.run();
  const failures = Object.entries(receipt).filter(([, v]) => v !== 'ok');
  if (failures.length > 0) log.error({ failures: Object.fromEntries(failures) }, 'teardown incomplete');
  return receipt;
}

/**
 * Host facts, plan, secrets, cgroup, bwrap, network, in that order. Throws (after undoing what it
 * built) when a step fails; a sandbox that bwrap itself refused comes back with `failed` set.
 */
export async function buildSandbox(tool: ServedTool, id: string, log: Logger): Promise<BuiltSandbox> {
  const enclosure = planEnclosure(tool.profile, await gatherHostFacts(tool.profile, tool.user));
  const secrets = await collectSecrets(enclosure, log);
  const inputs = enclosure.secrets.length > 0 ? toSecretInputs(enclosure, secrets.buffers) : undefined;

  const teardown = new TeardownStack();
  try {
    // The cgroup first: run-as makes and joins it as root before it drops to the tool's user and execs bwrap,
    // so bwrap, everything it clones (the sandbox's pid 1, its cgroup namespace rooted here),
    // sandbox-exec and the tool are inside from their first instruction; there is no instruction
    // of the tool outside its limits, and none of a sandbox under construction outside a cgroup
    // of this daemon (a bwrap killed with the daemon before its sandbox armed --die-with-parent,
    // bubblewrap issue 633, leaves that sandbox here, for the next start's sweep).
    const cgSetup = cgroupSetup();
    const cgroup = cgSetup.mode !== 'none' ? reserveInvocationCgroup(cgSetup, planCgroupLimits(tool.profile)) : undefined;
    if (cgroup) teardown.push('remove cgroup', () => cgroup.dispose());
    // bwrap builds the namespaces and mounts, then holds before it starts sandbox-exec.
    const sandbox = await spawnSandbox(toBwrapCommand(enclosure), enclosure.user, toBwrapInputs(tool.seccomp, enclosure, inputs), cgroup?.steps);
    teardown.push('kill sandbox', async () => {
      await sandbox.kill();
      await goneOrGrace(sandbox);
    });

    let network: WiredNetwork | undefined;
    let networkSetupMs: number | undefined;
    const sandboxPid = await sandbox.started;
    const failed = sandboxPid === undefined;
    if (!failed) {
      // Ordering: veth, routes and both firewalls exist before the tool's first packet.
      if (enclosure.network) {
        const t0 = performance.now();
        const wired = await wireSandboxNetwork(sandboxPid, enclosure.network);
        networkSetupMs = Math.round((performance.now() - t0) * 10) / 10;
        network = wired;
        teardown.push('remove network', async () => {
          await sandbox.kill();
          await wired.remove();
        });
      }
      sandbox.release();
    }
    return { id, tool, enclosure, process: sandbox, cgroup, network, networkSetupMs, secrets: secrets.values, failed, teardown };
  } catch (e) {
    await runTeardown(teardown, log.child({ invocation: id }));
    throw e;
  }
}
