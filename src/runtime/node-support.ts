// Which Node.js may run the service. The code runs on Node 20, 22 and 24 (package.json engines; the
// test suite runs on all three), but a root daemon that guards a workstation must not run on a
// release line that no longer gets security fixes: the service is supported on the LTS lines the
// suite tests that have not reached their end of life. Pure: the caller passes today's date.

export interface NodeLine {
  readonly major: number;
  /** The first release of the line that toolcell supports (package.json engines). */
  readonly minimum: string;
  /** End of life announced by the Node.js project (https://nodejs.org/en/about/previous-releases). */
  readonly endOfLife: string;
  /** Whether the test suite runs on this line (npm test: the machine's node, node22, node24). */
  readonly tested: boolean;
}

export const NODE_LINES: readonly NodeLine[] = [
  { major: 18, minimum: '18.0.0', endOfLife: '2025-04-30', tested: false },
  { major: 20, minimum: '20.11.0', endOfLife: '2026-04-30', tested: true },
  { major: 22, minimum: '22.12.0', endOfLife: '2027-04-30', tested: true },
  { major: 24, minimum: '24.0.0', endOfLife: '2028-04-30', tested: true },
];

export interface NodeJudgement {
  readonly supported: boolean;
  /** One line for an admin: the version and why it is or is not supported. */
  readonly detail: string;
}

function parts(version: string): number[] {
  return version.replace(/^v/, '').split('.').map((n) => Number.parseInt(n, 10));
}

function atLeast(version: string, minimum: string): boolean {
  const [a, b] = [parts(version), parts(minimum)];
  for (let i = 0; i < 3; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0);
  return true;
}

/** The release lines the service may run on today (e.g. "22, 24"). */
export function supportedLines(today: Date): string {
  const day = today.toISOString().slice(0, 10);
  return NODE_LINES.filter((l) => l.tested && day < l.endOfLife).map((l) => String(l.major)).join(', ');
}

export function judgeNode(version: string, today: Date): NodeJudgement {
  const v = version.startsWith('v') ? version : `v${version}`;
  const day = today.toISOString().slice(0, 10);
  const line = NODE_LINES.find((l) => l.major === parts(v)[0]);
  const lines = supportedLines(today);
  if (!line) return { supported: false, detail: `${v}: not a Node.js LTS line toolcell supports (supported: ${lines})` };
  if (day >= line.endOfLife) return { supported: false, detail: `${v}: Node.js ${line.major} reached its end of life on ${line.endOfLife} (supported: ${lines})` };
  if (!line.tested) return { supported: false, detail: `${v}: toolcell is not tested on Node.js ${line.major} (supported: ${lines})` };
  if (!atLeast(v, line.minimum)) return { supported: false, detail: `${v}: older than ${line.minimum}, the first Node.js ${line.major} release toolcell supports` };
  return { supported: true, detail: `${v}: LTS, supported until ${line.endOfLife}` };
}
