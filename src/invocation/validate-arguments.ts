// Tool arguments are hostile input: they are checked against the profile's [input] JSON Schema
// before any sandbox is built. Validators are compiled once per schema object (at profile load).
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';

const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
const compiled = new WeakMap<object, ValidateFunction>();

export function compileArgumentValidator(schema: Record<string, unknown>): ValidateFunction {
  let v = compiled.get(schema);
  if (!v) {
    v = ajv.compile(schema);
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
