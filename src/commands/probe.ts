// `toolcell probe TOOL [--json]`: runs the probe helper in TOOL's real sandbox (its user, binds,
// syscall filter, limits and network, exactly as a call gets them, only the program replaced) and
// prints the blast radius; exit 1 when anything sensitive, unlisted or dangerous is reachable.
import pino from 'pino';
import type { DaemonConfig } from '../config/daemon-config.js';
import { runInvocation } from '../invocation/run-invocation.js';
import { cgroupSetup } from '../linux/cgroup.js';
import { gatherHostFacts, PROBE_HELPER } from '../linux/gather-host-facts.js';
import { configureSandboxNetworks } from '../linux/sandbox-network.js';
import { placeholderArguments } from '../plan/command-template.js';
import { judgeProbe, PROBE_DEST, probeArguments, renderProbe } from '../plan/probe-plan.js';
import { planSandbox } from '../plan/sandbox-plan.js';
import { servedTool } from './served-tool.js';
import type { Profile } from '../profile/profile.js';

export async function runProbe(config: DaemonConfig, toolName: string, asJson: boolean): Promise<number> {
  const found = await servedTool('probe', config, toolName);
  if (!found) return 1;
  const { tool, all: tools } = found;
  const { profile } = tool;
  const otherToolsPaths = [...tools.values()]
    .filter((t) => t !== tool)
    .flatMap((t) => [...t.profile.mounts.filter((m) => m.kind === 'bind').map((m) => (m.kind === 'bind' ? m.source : '')), ...Object.values(t.profile.secrets).map((s) => s.file)]);
  const facts = await gatherHostFacts(profile, tool.user);
  const plan = planSandbox(profile, placeholderArguments(profile.template), facts);
  const allowed = (plan.network?.allow ?? [])
    .filter((a) => a.proto === 'tcp' && a.block.prefix === (a.block.family === 4 ? 32 : 128))
    .map((a) => (a.block.family === 4 ? `${a.block.address}:${a.port}` : `[${a.block.address}]:${a.port}`));
  // The tool's own sandbox with only the program replaced: the probe helper and its questions.
  const probeProfile: Profile = {
    ...profile,
    pty: false,
    input: { type: 'object', properties: {}, additionalProperties: false },
    template: [PROBE_DEST, ...probeArguments(plan, { otherToolsPaths }, allowed)].map((text) => [{ text }]),
    mounts: [...profile.mounts, { kind: 'ro-bind', source: PROBE_HELPER, dest: PROBE_DEST }],
  };
  const cgroups = cgroupSetup(config.cgroup_root);
  if (cgroups.mode === 'none') process.stderr.write(`toolcell probe: limits are not enforced here: ${cgroups.why}\n`);
  configureSandboxNetworks({ v4: config.network_pool, v6: config.network_pool6 });
  const result = await runInvocation({ ...tool, profile: probeProfile }, {}, { logger: pino({ level: 'silent' }) });
  if (result.exitCode !== 0) {
    process.stderr.write(`toolcell probe: the probe did not run to the end in ${toolName}'s sandbox (${result.reason ?? `exit ${result.exitCode}`}):\n${result.stderr}`);
    return 1;
  }
  const report = judgeProbe(profile, plan, result.stdout, allowed);
  process.stdout.write(asJson ? `${JSON.stringify(report, null, 2)}\n` : renderProbe(report));
  return report.findings.some((f) => f.severity === 'finding') ? 1 : 0;
}
