// `toolcell explain TOOL [--json]`: what a call of TOOL gets, planned exactly as a call is (the
// arguments are placeholders, the network slot is the pool's first).
import type { DaemonConfig } from '../config/daemon-config.js';
import { gatherHostFacts } from '../linux/gather-host-facts.js';
import { OWNER } from '../linux/process-owner.js';
import { AddressPool } from '../plan/address-pool.js';
import { toBwrapCommand } from '../plan/bwrap-command.js';
import { placeholderArguments } from '../plan/command-template.js';
import { explain, renderExplanation } from '../plan/explain.js';
import { planNetworkRules } from '../plan/network-plan.js';
import { planSandbox } from '../plan/sandbox-plan.js';
import { planSeccomp } from '../plan/seccomp-policy.js';
import { servedTool } from './served-tool.js';

export async function runExplain(config: DaemonConfig, toolName: string, asJson: boolean): Promise<number> {
  const found = await servedTool('explain', config, toolName);
  if (!found) return 1;
  const { tool } = found;
  const { profile } = tool;
  const facts = await gatherHostFacts(profile, tool.user);
  const plan = planSandbox(profile, placeholderArguments(profile.template), facts);
  const pool = new AddressPool({ v4: config.network_pool, v6: config.network_pool6 }, [], OWNER);
  const slot = pool.slot(0);
  const v6 = plan.network?.allow.some((a) => a.block.family === 6) ?? false;
  const network = plan.network ? planNetworkRules(plan.network, v6 ? slot : { ...slot, v6: undefined }, pool.cidrs) : undefined;
  const e = explain(profile, plan, toBwrapCommand(plan), planSeccomp(profile.seccomp), network);
  process.stdout.write(asJson ? `${JSON.stringify(e, null, 2)}\n` : renderExplanation(e));
  return 0;
}
