// Tool arguments are hostile input: they are checked against the profile's [input] JSON Schema
// before any sandbox is built. Validators are compiled once per schema object (at profile load).
import { createContext, Script } from 'node:vm';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';

/**
 * How long a schema's regular expressions may take on one call's arguments. V8's are backtracking:
 * an admin's `^([a-z0-9]+-?)+$` takes seconds on 30 hostile characters and doubles with each one
 * more, and would hold the daemon's one event loop (every caller, every timeout) meanwhile.
 */
export const PATTERN_CHECK_MS = 100;

interface Compiled {
  readonly validate: ValidateFunction;
  /** The schema has regular expressions: its checks run under PATTERN_CHECK_MS. */
  readonly bounded: boolean;
}

const compiled = new WeakMap<object, Compiled>();

/** Where bounded checks run: V8 stops a script past its timeout, a regular expression included. */
const boundedRun = { script: new Script('validate(args)'), context: createContext({ validate: null, args: null }) };

/** The schema's validator, compiled once per schema object. */
export function compileArgumentValidator(schema: Record<string, unknown>): ValidateFunction {
  return compiledFor(schema).validate;
}

function compiledFor(schema: Record<string, unknown>): Compiled {
  let c = compiled.get(schema);
  if (!c) {
    // An Ajv of its own per schema: a shared one registers every "$id" (so the same profile parsed
    // again after an edit or reload is refused as a duplicate, and one profile's $id answers
    // another's $ref) and caches every schema it ever compiled. This one lives exactly as long as
    // the validator does (about 18 KiB and 4 ms per profile load).
    const validate = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true }).compile(schema);
    c = { validate, bounded: hasPatterns(schema) };
    compiled.set(schema, c);
  }
  return c;
}

/**
 * Whether a schema has a regular expression anywhere: a `pattern` or `patternProperties` keyword.
 * Not a property that is named "pattern" (the search tool's argument): under properties, and the
 * other keywords that map names to schemas, the keys are names and only the values are schemas.
 */
export function hasPatterns(schema: unknown): boolean {
  if (Array.isArray(schema)) return schema.some(hasPatterns);
  if (schema === null || typeof schema !== 'object') return false;
  return Object.entries(schema).some(([key, value]) => {
    if (key === 'patternProperties' || (key === 'pattern' && typeof value === 'string')) return true;
    if (NAMED_SCHEMAS.has(key) && value !== null && typeof value === 'object') return Object.values(value).some(hasPatterns);
    return hasPatterns(value);
  });
}

const NAMED_SCHEMAS = new Set(['properties', '$defs', 'definitions', 'dependentSchemas']);

/** Whether the arguments are valid; undefined when the check was stopped at PATTERN_CHECK_MS. */
function run(c: Compiled, args: unknown): boolean | undefined {
  if (!c.bounded) return c.validate(args);
  const { script, context } = boundedRun;
  Object.assign(context, { validate: c.validate, args });
  try {
    return script.runInContext(context, { timeout: PATTERN_CHECK_MS }) as boolean;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_SCRIPT_EXECUTION_TIMEOUT') return undefined;
    throw e;
  } finally {
    Object.assign(context, { validate: null, args: null });
  }
}

function describeAjvError(e: ErrorObject): string {
  const where = e.instancePath ? `argument ${e.instancePath.slice(1).replaceAll('/', '.')}` : 'arguments';
  if (e.keyword === 'additionalProperties') {
    return `${where}: unknown argument "${String((e.params as { additionalProperty?: string }).additionalProperty)}"`;
  }
  return `${where}: ${e.message ?? 'is invalid'}`;
}

/** The one problem of arguments whose check ran into PATTERN_CHECK_MS. */
export const PATTERN_CHECK_STOPPED = `arguments: the input schema's patterns took over ${PATTERN_CHECK_MS} ms on these arguments and were stopped (a pattern that backtracks; see [input] in the tool's profile)`;

/** Returns the list of problems, empty when the arguments are valid. */
export function checkArguments(schema: Record<string, unknown>, args: unknown): string[] {
  const c = compiledFor(schema);
  const valid = run(c, args);
  if (valid === undefined) return [PATTERN_CHECK_STOPPED];
  return valid ? [] : (c.validate.errors ?? []).map(describeAjvError);
}
