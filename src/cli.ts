// Command dispatch. Exit status: 0 success, 1 a finding or failure, 2 bad usage.
import { parseArgs } from 'node:util';
import { ConfigError, loadDaemonConfig } from './config/daemon-config.js';
import { runCheck } from './commands/check.js';
import { runConnect } from './commands/connect.js';
import { runServe } from './commands/serve.js';
import { runUsersSync } from './commands/users-sync.js';
import { runDoctor } from './commands/doctor.js';
import { runExplain } from './commands/explain.js';
import { runProbe } from './commands/probe.js';
import { parseRunArguments, runRun, RunUsageError } from './commands/run.js';

const USAGE = `usage:
  toolcell serve   [--config FILE] [--tools DIR] [--socket PATH] [--announce]
  toolcell connect [--config FILE] [--socket PATH]
  toolcell check   [--config FILE] [--tools DIR]
  toolcell users sync [--config FILE] [--tools DIR]
  toolcell doctor  [--config FILE]
  toolcell explain TOOL [--json] [--config FILE] [--tools DIR]
  toolcell probe TOOL [--json] [--config FILE] [--tools DIR]
  toolcell run TOOL [--arg NAME=VALUE ...| --args JSON] [--json] [--config FILE] [--tools DIR]`;

class UsageError extends Error {}

const COMMON = { config: { type: 'string' } } as const;
const OPTIONS = {
  serve: { ...COMMON, tools: { type: 'string' }, socket: { type: 'string' }, announce: { type: 'boolean' } },
  connect: { ...COMMON, socket: { type: 'string' } },
  check: { ...COMMON, tools: { type: 'string' } },
  users: { ...COMMON, tools: { type: 'string' } },
  doctor: { ...COMMON },
  explain: { ...COMMON, tools: { type: 'string' }, json: { type: 'boolean' } },
  probe: { ...COMMON, tools: { type: 'string' }, json: { type: 'boolean' } },
  run: { ...COMMON, tools: { type: 'string' }, json: { type: 'boolean' }, arg: { type: 'string', multiple: true }, args: { type: 'string' } },
} as const;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h') {
    process.stdout.write(`${USAGE}\n`);
    return command === undefined ? 2 : 0;
  }
  if (!(command in OPTIONS)) throw new UsageError(`unknown command "${command}"`);
  const name = command as keyof typeof OPTIONS;
  let values: { config?: string; tools?: string; socket?: string; announce?: boolean; json?: boolean; arg?: string[]; args?: string };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: rest, options: OPTIONS[name], strict: true, allowPositionals: name === 'users' || name === 'explain' || name === 'run' || name === 'probe' }) as {
      values: typeof values;
      positionals: string[];
    });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (name === 'users' && (positionals.length !== 1 || positionals[0] !== 'sync')) throw new UsageError('usage: toolcell users sync');
  if (name === 'explain' && positionals.length !== 1) throw new UsageError('usage: toolcell explain TOOL [--json]');
  if (name === 'probe' && positionals.length !== 1) throw new UsageError('usage: toolcell probe TOOL [--json]');
  if (name === 'run' && positionals.length !== 1) throw new UsageError('usage: toolcell run TOOL [--arg NAME=VALUE ... | --args JSON] [--json]');
  const loaded = await loadDaemonConfig(values.config);
  const config = { ...loaded, tools_dir: values.tools ?? loaded.tools_dir, socket: values.socket ?? loaded.socket };
  switch (name) {
    case 'serve':
      return runServe(config, values.announce ?? false);
    case 'connect':
      return runConnect(config.socket);
    case 'check':
      return runCheck(config.tools_dir, config.client_group);
    case 'users':
      return runUsersSync(config.tools_dir, config.client_group);
    case 'doctor':
      return runDoctor(config);
    case 'explain':
      return runExplain(config, positionals[0]!, values.json ?? false);
    case 'probe':
      return runProbe(config, positionals[0]!, values.json ?? false);
    case 'run': {
      let args: Record<string, unknown>;
      try {
        args = parseRunArguments(values.arg ?? [], values.args);
      } catch (e) {
        if (e instanceof RunUsageError) throw new UsageError(e.message);
        throw e;
      }
      return runRun(config, positionals[0]!, args, values.json ?? false);
    }
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== -1) process.exitCode = code;
  },
  (e: unknown) => {
    if (e instanceof UsageError) {
      process.stderr.write(`toolcell: ${e.message}\n${USAGE}\n`);
      process.exitCode = 2;
    } else if (e instanceof ConfigError) {
      process.stderr.write(`toolcell: ${e.message}\n`);
      process.exitCode = 1;
    } else {
      process.stderr.write(`toolcell: ${(e as Error).message}\n`);
      process.exitCode = 1;
    }
  },
);
