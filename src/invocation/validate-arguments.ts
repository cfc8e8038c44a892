// Tool arguments are hostile input: they are checked against the profile's [input] JSON Schema
// before any sandbox is built. Validators are compiled once per schema object (at profile load).
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';

const compiled = new WeakMap<object, ValidateFunction>();

export function compileArgumentValidator(schema: Record<string, unknown>): ValidateFunction {
  let v = compiled.get(schema);
  if (!v) {
    // An Ajv of its own per schema: a shared one registers every "$id" (so the same profile parsed
    // again after an edit or reload is refused as a duplicate, and one profile's $id answers
    // another's $ref) and caches every schema it ever compiled. This one lives exactly as long as
    // the validator does (about 18 KiB and 4 ms per profile load).
    v = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true }).compile(schema);
    compiled.set(schema, v);
  }
  return v;
}

function describeAjvError(e: ErrorObject): string {
  const where = e.instancePath ? `argument ${e.instancePath.slice(1).replaceAll('/', '.')}` : 'arguments';
  if (e.keyword === 'additionalProperties') {
    return `${where}: unknown argument "${String((e.params as { additionalProperty?: string }).additionalProperty)}"`;
  }
  return `${where}: ${e.message ?? 'is invalid'}`;
}

/** Returns the list of problems, empty when the arguments are valid. */
export function checkArguments(schema: Record<string, unknown>, args: unknown): string[] {
  const validate = compileArgumentValidator(schema);
  if (validate(args)) return [];
  return (validate.errors ?? []).map(describeAjvError);
}
