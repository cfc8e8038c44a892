// How secret values reach the sandbox without being on any command line: bwrap reads extra
// arguments from a descriptor (--args FD), which no /proc/PID/cmdline shows, and file secrets
// come through --ro-bind-data from descriptors of their own. Pure: values in, bytes out.
import { INPUT_FDS } from './bwrap-command.js';
import type { SandboxEnclosure } from './sandbox-plan.js';

export const SECRETS_DIR = '/run/secrets';

export interface SecretInputs {
  /** NUL-separated bwrap arguments for --args, then one buffer per file secret (from INPUT_FDS.firstSecretFile on). */
  readonly args: Buffer;
  readonly files: readonly Buffer[];
}

export function toSecretInputs(plan: Pick<SandboxEnclosure, 'secrets'>, values: Readonly<Record<string, Buffer>>): SecretInputs {
  const args: Buffer[] = [];
  const files: Buffer[] = [];
  const arg = (s: string | Buffer) => args.push(Buffer.isBuffer(s) ? s : Buffer.from(s), Buffer.from([0]));
  for (const secret of plan.secrets) {
    const value = values[secret.name];
    if (value === undefined) throw new Error(`secret ${secret.name}: no value`);
    if (secret.as === 'env') {
      arg('--setenv');
      arg(secret.name);
      arg(value);
    } else {
      arg('--perms');
      arg('0400');
      arg('--ro-bind-data');
      arg(String(INPUT_FDS.firstSecretFile + files.length));
      arg(`${SECRETS_DIR}/${secret.name}`);
      files.push(value);
    }
  }
  return { args: Buffer.concat(args), files };
}
