// The command template: each argv element is literal text with {name} placeholders ({{ and }} are
// literal braces). Substitution never splits, joins or globs: one template element is one argv
// element, whatever the argument contains. That is the whole defence against shell injection, so
// the rules live here, in one pure place.

export type TemplatePart = { readonly text: string } | { readonly arg: string };
export type TemplateElement = readonly TemplatePart[];

export class TemplateError extends Error {}

export function parseTemplateElement(element: string): TemplateElement {
  const parts: TemplatePart[] = [];
  let text = '';
  for (let i = 0; i < element.length; i++) {
    const c = element[i];
    const next = element[i + 1];
    if ((c === '{' && next === '{') || (c === '}' && next === '}')) {
      text += c;
      i++;
    } else if (c === '{') {
      const end = element.indexOf('}', i);
      if (end < 0) throw new TemplateError(`unclosed "{" in ${JSON.stringify(element)}`);
      const name = element.slice(i + 1, end);
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
        throw new TemplateError(`bad placeholder {${name}} in ${JSON.stringify(element)}: names are letters, digits and _`);
      }
      if (text) parts.push({ text });
      text = '';
      parts.push({ arg: name });
      i = end;
    } else if (c === '}') {
      throw new TemplateError(`unmatched "}" in ${JSON.stringify(element)} (write "}}" for a literal brace)`);
    } else {
      text += c;
    }
  }
  if (text || parts.length === 0) parts.push({ text });
  return parts;
}

export function placeholderNames(template: readonly TemplateElement[]): string[] {
  const names = new Set<string>();
  for (const el of template) for (const p of el) if ('arg' in p) names.add(p.arg);
  return [...names];
}

/** Arguments that fill every placeholder with "<name>": what explain and probe plan a call with. */
export function placeholderArguments(template: readonly TemplateElement[]): Record<string, string> {
  return Object.fromEntries(placeholderNames(template).map((n) => [n, `<${n}>`]));
}

/** Linux refuses a single argv element longer than MAX_ARG_STRLEN (32 pages). */
export const MAX_ARG_BYTES = 128 * 1024 - 1;

/** A surrogate code unit without its other half (String.prototype.isWellFormed, before ES2024's lib). */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export class ArgumentError extends Error {
  constructor(readonly argument: string, message: string) {
    super(`argument "${argument}": ${message}`);
  }
}

function argumentText(name: string, value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isFinite(value)) {
    // 12345678901234567890 arrived as "12345678901234567000", and 1e21 or 5e-324 in an exponent
    // form no admin's program expects. (A decimal is as exact as JSON's double makes it.)
    const text = String(value);
    if (text.includes('e') || (Number.isInteger(value) && !Number.isSafeInteger(value))) {
      throw new ArgumentError(name, 'is a number that would be written with an exponent, or an integer past 2^53 (not passed exactly); send it as a string');
    }
    return text;
  }
  if (typeof value === 'boolean') return String(value);
  throw new ArgumentError(name, `a command placeholder takes a string, number or boolean, got ${value === null ? 'null' : typeof value}`);
}

/**
 * Fills the template. Refuses NUL (the kernel would cut the element short), oversized elements,
 * and values starting with "-" unless the profile allows it for that argument: a value like
 * "--output=/etc/passwd" in an element of its own is an option to the tool, not data.
 */
export function fillTemplate(
  template: readonly TemplateElement[],
  args: Readonly<Record<string, unknown>>,
  allowLeadingDash: ReadonlySet<string>,
): string[] {
  return template.map((element) => {
    let out = '';
    for (const part of element) {
      if ('text' in part) {
        out += part.text;
        continue;
      }
      if (!Object.hasOwn(args, part.arg)) throw new ArgumentError(part.arg, 'is required');
      const value = argumentText(part.arg, args[part.arg]);
      if (value.includes('\0')) throw new ArgumentError(part.arg, 'contains a NUL byte');
      // A lone surrogate has no UTF-8: the tool would get U+FFFD, not the value the schema checked.
      if (LONE_SURROGATE.test(value)) throw new ArgumentError(part.arg, 'contains an unpaired surrogate (not Unicode text)');
      if (value.startsWith('-') && !allowLeadingDash.has(part.arg)) {
        throw new ArgumentError(part.arg, 'starts with "-" (refused: it could be read as an option; the profile can allow it with allow_leading_dash)');
      }
      out += value;
    }
    if (Buffer.byteLength(out) > MAX_ARG_BYTES) {
      const names = element.flatMap((p) => ('arg' in p ? [p.arg] : []));
      throw new ArgumentError(names.join(', '), `is longer than ${MAX_ARG_BYTES} bytes once placed in the command`);
    }
    return out;
  });
}
