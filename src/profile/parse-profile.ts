// TOML text → Profile, or every error found, each naming file, line and key. Pure: the caller reads
// the file; this function sees only its name and text, so the schema table can be unit-tested.
import { createHash } from 'node:crypto';
import { parse as parseToml, TomlError } from 'smol-toml';
import type { z } from 'zod';
import { parseSize } from '../plan/parse-units.js';
import { hostStateTreeOf, systemTreeOf } from '../plan/system-trees.js';
import { planSeccomp, SeccompPolicyError } from '../plan/seccomp-policy.js';
import { parseTemplateElement, placeholderNames, TemplateError, type TemplateElement } from '../plan/command-template.js';
import { compileArgumentValidator } from '../invocation/validate-arguments.js';
import { AllowEntryError, parseAllowEntry, wideReason, type AllowEntry } from '../plan/egress-allow.js';
import { locateKey } from './locate-key.js';
import { absolutePath, DEFAULT_TMPFS_SIZE, ProfileSchema, type ProfileBody } from './schema.js';
import type { MountSpec, Profile, ProfileError } from './profile.js';

export const TOOL_NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;

/** Sandbox paths that bwrap itself provides; a profile may not mount over them. */
const RESERVED_DESTS = ['/', '/proc', '/dev'];

export type ParseResult = { ok: true; profile: Profile } | { ok: false; errors: ProfileError[] };

export function parseProfile(name: string, file: string, source: string): ParseResult {
  const errors: ProfileError[] = [];
  const fail = (key: string, message: string, path: readonly (string | number)[] = key.split('.')) =>
    errors.push({ file, line: locateKey(source, path), key, message });

  if (!TOOL_NAME.test(name)) {
    fail('', `tool name "${name}" (from the file name) must be lower-case letters, digits, "-" and "_", at most 64`);
    return { ok: false, errors };
  }

  let raw: unknown;
  try {
    raw = parseToml(source);
  } catch (e) {
    const line = e instanceof TomlError ? e.line : undefined;
    const msg = (e as Error).message.split('\n')[0] ?? 'invalid TOML';
    return { ok: false, errors: [{ file, line, key: '', message: msg }] };
  }

  const parsed = ProfileSchema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) addZodIssue(issue, fail);
    return { ok: false, errors };
  }
  const body = parsed.data;

  const template: TemplateElement[] = [];
  body.command.forEach((el, i) => {
    try {
      template.push(parseTemplateElement(el));
    } catch (e) {
      if (e instanceof TemplateError) fail(`command[${i}]`, e.message, ['command']);
      else throw e;
    }
  });
  if (!body.command[0]?.startsWith('/')) fail('command[0]', 'the program must be an absolute path (no PATH lookup)', ['command']);
  else if (template[0]?.some((p) => 'arg' in p)) fail('command[0]', 'the program must not come from an argument', ['command']);

  checkInput(body, placeholderNames(template), fail);
  for (const name of Object.keys(body.secrets)) {
    if (name in body.env) fail(`secrets.${name}`, `${name} is also set in env; a secret and a plain variable cannot share a name`, ['secrets', name]);
  }
  const mounts = planMounts(body, fail);
  const egress = parseEgress(body, fail);
  try {
    planSeccomp(body.seccomp);
  } catch (e) {
    if (!(e instanceof SeccompPolicyError)) throw e;
    fail(e.key, e.message, ['seccomp', e.key.startsWith('seccomp.allow') ? 'allow' : 'deny']);
  }

  const user = body.identity.user ?? `tc-${name}`;
  if (user.length > 32) fail('identity.user', `the default user "${user}" is longer than 32 characters (Linux's limit): name one under [identity]`, ['identity']);

  if (errors.length > 0) return { ok: false, errors };
  const digest = createHash('sha256').update(source).digest('hex');
  return { ok: true, profile: { ...body, identity: { user }, name, file, source, digest, template, mounts, egress } };
}

type Fail = (key: string, message: string, path?: readonly (string | number)[]) => void;

function addZodIssue(issue: z.core.$ZodIssue, fail: Fail, prefix: readonly PropertyKey[] = []): void {
  const path = [...prefix, ...issue.path].map((p) => (typeof p === 'symbol' ? String(p) : p));
  if (issue.code === 'invalid_union' && issue.errors.length > 0) {
    // "Invalid input" helps no one: report the alternative that got furthest (deepest path), e.g.
    // the table form of a secret with a bad "as" rather than "not a string".
    const depth = (branch: z.core.$ZodIssue[]) => Math.max(...branch.map((i) => i.path.length));
    const best = issue.errors.reduce((a, b) => (depth(b) > depth(a) ? b : a));
    if (depth(best) > 0) {
      for (const sub of best) addZodIssue(sub, fail, path);
      return;
    }
  }
  if (issue.code === 'unrecognized_keys') {
    for (const k of issue.keys) {
      const full = [...path, k];
      fail(full.join('.'), 'unknown key (a typo must not silently change a policy)', full);
    }
    return;
  }
  const key = path.reduce<string>((acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : acc ? `${acc}.${p}` : p), '');
  // zod nests the schema's own message for a bad record key; show that one.
  const message = issue.code === 'invalid_key' ? issue.issues.map((i) => i.message).join('; ') : issue.message;
  fail(key, message, path);
}

function checkInput(body: ProfileBody, placeholders: string[], fail: Fail): void {
  const input = body.input;
  if (input.type !== 'object') fail('input.type', 'must be "object" (MCP tool arguments are an object)');
  // Unknown arguments are refused unless the admin says otherwise.
  if (input.type === 'object' && !('additionalProperties' in input)) input.additionalProperties = false;
  try {
    compileArgumentValidator(input);
  } catch (e) {
    fail('input', `not a valid JSON Schema: ${(e as Error).message}`);
    return;
  }
  const props = (input.properties ?? {}) as Record<string, unknown>;
  const required = Array.isArray(input.required) ? (input.required as unknown[]) : [];
  for (const name of placeholders) {
    if (!(name in props)) fail('command', `placeholder {${name}} is not a property of [input]`);
    else if (!required.includes(name)) fail('command', `placeholder {${name}} must be listed in input.required (an absent value has no safe spelling)`);
  }
  for (const name of body.allow_leading_dash) {
    if (!placeholders.includes(name)) fail('allow_leading_dash', `"${name}" is not a placeholder of command`);
  }
}

function checkPath(key: string, p: string, fail: Fail): boolean {
  const r = absolutePath.safeParse(p);
  if (!r.success) {
    fail(key, `${JSON.stringify(p)} ${r.error.issues[0]?.message ?? 'is not a valid path'}`, key.split(/[.[]/));
    return false;
  }
  return true;
}

function checkDest(key: string, dest: string, fail: Fail): boolean {
  const reserved = RESERVED_DESTS.find((r) => dest === r || (r !== '/' && dest.startsWith(`${r}/`)));
  if (reserved) {
    fail(key, `${dest} cannot be mounted over: the sandbox provides ${reserved} itself`, key.split(/[.[]/));
    return false;
  }
  return true;
}

function parseEgress(body: ProfileBody, fail: Fail): AllowEntry[] {
  const entries: AllowEntry[] = [];
  body.network.allow.forEach((text, i) => {
    const key = `network.allow[${i}]`;
    try {
      const entry = parseAllowEntry(text);
      const wide = wideReason(entry.target);
      if (wide && !body.network.allow_any) {
        return void fail(key, `${JSON.stringify(text)} ${wide}: set allow_any = true if that is really meant`, ['network', 'allow']);
      }
      entries.push(entry);
    } catch (e) {
      if (!(e instanceof AllowEntryError)) throw e;
      fail(key, e.message, ['network', 'allow']);
    }
  });
  return entries;
}

function planMounts(body: ProfileBody, fail: Fail): MountSpec[] {
  const mounts: MountSpec[] = [];
  const binds = [
    ['read_only', 'ro-bind'],
    ['writable', 'bind'],
  ] as const;
  for (const [field, kind] of binds) {
    body.filesystem[field].forEach((entry, i) => {
      const key = `filesystem.${field}[${i}]`;
      const parts = entry.split(':');
      if (parts.length > 2) return void fail(key, `${JSON.stringify(entry)}: expected HOST or HOST:SANDBOX`, ['filesystem', field]);
      const source = parts[0] ?? '';
      const dest = parts[1] ?? source;
      if (!checkPath(key, source, fail) || !checkPath(key, dest, fail)) return;
      if (source === '/') return void fail(key, 'the host root "/" is never bound whole; list the directories the tool needs', ['filesystem', field]);
      const state = hostStateTreeOf(source);
      if (state) return void fail(key, `${source} is in the host's ${state}, which is never bound: it is the host's live processes (other sandboxes' included), kernel state and devices; the sandbox has its own /proc and /dev`, ['filesystem', field]);
      const tree = kind === 'bind' ? systemTreeOf(source) : undefined;
      if (tree) return void fail(key, `${source} is in the system tree ${tree}, which a tool may never write`, ['filesystem', field]);
      if (!checkDest(key, dest, fail)) return;
      mounts.push({ kind, source, dest });
    });
  }
  // A read-only path inside a writable one is the tool's to replace, between calls, with a symlink
  // that bwrap follows on the host when it binds: to /etc, or anything else the tool's user may read.
  body.filesystem.read_only.forEach((entry, i) => {
    const source = entry.split(':')[0] ?? '';
    const writable = mounts.find((m) => m.kind === 'bind' && (source === m.source || source.startsWith(`${m.source}/`)));
    if (writable?.kind === 'bind') {
      fail(`filesystem.read_only[${i}]`, `${source} lies in the writable path ${writable.source}: the tool could replace it with a symlink to anything its user may read; bind it from outside the writable path`, ['filesystem', 'read_only']);
    }
  });
  body.filesystem.tmpfs.forEach((entry, i) => {
    const key = `filesystem.tmpfs[${i}]`;
    const [dest = '', sizeText, extra] = entry.split(':');
    if (extra !== undefined) return void fail(key, `${JSON.stringify(entry)}: expected PATH or PATH:SIZE`, ['filesystem', 'tmpfs']);
    if (!checkPath(key, dest, fail) || !checkDest(key, dest, fail)) return;
    const size = sizeText === undefined ? DEFAULT_TMPFS_SIZE : parseSize(sizeText);
    if (size === undefined) return void fail(key, `size ${JSON.stringify(sizeText)}: expected a size like "64M"`, ['filesystem', 'tmpfs']);
    mounts.push({ kind: 'tmpfs', dest, size });
  });
  const seen = new Set<string>();
  for (const m of mounts) {
    if (seen.has(m.dest)) fail('filesystem', `${m.dest} is mounted twice`);
    seen.add(m.dest);
  }
  return mounts;
}
