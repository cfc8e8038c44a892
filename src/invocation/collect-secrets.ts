// The values of a call's secrets, read when the call starts (the files were checked at load; they
// are checked again here on the open descriptor). A refused file fails the call before any spawn.
import type { Logger } from 'pino';
import { openSecret, SecretError } from '../linux/read-secret.js';
import type { SandboxEnclosure } from '../plan/sandbox-plan.js';
import type { SecretValue } from './mask-secrets.js';

/** The sandbox cannot be built as the profile says (a secret file refused, ...). */
export class InvocationSetupError extends Error {}

export async function collectSecrets(plan: Pick<SandboxEnclosure, 'secrets'>, log: Logger): Promise<{ buffers: Record<string, Buffer>; values: SecretValue[] }> {
  const buffers: Record<string, Buffer> = {};
  for (const s of plan.secrets) {
    try {
      buffers[s.name] = (await openSecret(s.file, true))!;
    } catch (e) {
      if (!(e instanceof SecretError)) throw e;
      // The reason names host paths: it goes to the admin's log, the caller learns only the name.
      log.error({ secret: s.name }, `secret ${s.name} refused: ${e.message}`);
      throw new InvocationSetupError(`secret ${s.name} is not usable; the daemon's log says why`);
    }
  }
  const values = Object.entries(buffers).map(([name, b]) => ({ name, value: b.toString('utf8') }));
  return { buffers, values };
}

