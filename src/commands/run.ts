// `toolcell run TOOL --arg NAME=VALUE ... | --args '{...}'`: one call through exactly the code path of an
// MCP call (argument checks, plan, sandbox, limits, network, teardown), without a daemon. Prints
// what the host would show, or with --json the structured result; exits with the tool's status.
import pino from 'pino';
import type { DaemonConfig } from '../config/daemon-config.js';
import { InvalidArgumentsError, runInvocation } from '../invocation/run-invocation.js';
import { stripTerminalControls } from '../invocation/strip-terminal.js';
import { describeToolResult, isFailure, structuredResult } from '../invocation/tool-result.js';
import { cgroupSetup } from '../linux/cgroup.js';
import { configureSandboxNetworks } from '../linux/sandbox-network.js';
import { servedTool } from './served-tool.js';

export class RunUsageError extends Error {}

/** --arg NAME=VALUE pairs (values are strings) or one --args JSON object. */
export function parseRunArguments(pairs: readonly string[], json: string | undefined): Record<string, unknown> {
  if (json !== undefined && pairs.length > 0) throw new RunUsageError('give the arguments either as --arg NAME=VALUE or as --args JSON, not both');
  if (json !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(json);
    } catch (e) {
      throw new RunUsageError(`--args: ${(e as Error).message}`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new RunUsageError('--args: expected a JSON object of arguments');
    return parsed as Record<string, unknown>;
  }
  const args: Record<string, unknown> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new RunUsageError(`--arg ${JSON.stringify(pair)}: expected NAME=VALUE`);
    args[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return args;
}

export async function runRun(config: DaemonConfig, toolName: string, args: Record<string, unknown>, asJson: boolean): Promise<number> {
  const found = await servedTool('run', config, toolName);
  if (!found) return 1;
  const { tool } = found;
  const cgroups = cgroupSetup(config.cgroup_root);
  if (cgroups.mode === 'none') process.stderr.write(`toolcell run: memory, pids and cpu limits are not enforced: ${cgroups.why}\n`);
  configureSandboxNetworks({ v4: config.network_pool, v6: config.network_pool6 });
  const abort = new AbortController();
  const onSignal = () => abort.abort('cancelled');
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const result = await runInvocation(tool, args, { logger: pino({ level: 'silent' }), signal: abort.signal });
    if (asJson) process.stdout.write(`${JSON.stringify(structuredResult(result), null, 2)}\n`);
    // The tool's output, which a prompt may have steered, on the admin's own terminal: an OSC 52
    // sequence would write their clipboard, others retitle or redraw the terminal. Into a pipe or
    // a file it goes as the tool wrote it.
    else process.stdout.write(process.stdout.isTTY ? stripTerminalControls(describeToolResult(result)) : describeToolResult(result));
    return isFailure(result) ? (result.exitCode && result.exitCode > 0 ? result.exitCode : 1) : 0;
  } catch (e) {
    if (e instanceof InvalidArgumentsError) {
      process.stderr.write(`toolcell run: invalid arguments for ${toolName}: ${e.message}\n`);
      return 2;
    }
    process.stderr.write(`toolcell run: the sandbox could not be run: ${(e as Error).message}\n`);
    return 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
