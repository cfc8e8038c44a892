// Finds the line of a key in TOML source, so that a schema error can say "file:line". The TOML
// parser does not keep positions; this scan understands [table] headers, dotted keys and inline
// tables well enough for the shapes profiles use. Unknown: undefined (the message still has the key).

export function locateKey(source: string, path: readonly (string | number)[]): number | undefined {
  const keys: string[] = [];
  for (const p of path) {
    if (typeof p === 'number') break;
    keys.push(p);
  }
  if (keys.length === 0) return undefined;
  const lines = source.split('\n');
  const bare = (k: string) => k.trim().replace(/^["']|["']$/g, '');
  // Try the longest header first: [a.b] then "c = ..."; then [a] "b.c = ..." or "b = { c = ...}".
  for (let k = keys.length - 1; k >= 0; k--) {
    const header = keys.slice(0, k).join('.');
    const rest = keys.slice(k);
    let section = '';
    for (let i = 0; i < lines.length; i++) {
      const line = (lines[i] ?? '').trim();
      const h = /^\[\s*([^\]]+?)\s*\]/.exec(line);
      if (h) {
        section = (h[1] ?? '').split('.').map(bare).join('.');
        if (section === keys.join('.') && k === keys.length - 1 && rest.length === 1) {
          // the key is itself a table: point at its header
          return i + 1;
        }
        continue;
      }
      if (section !== header) continue;
      const eq = line.indexOf('=');
      if (eq < 0) continue;
      const lhs = line.slice(0, eq).split('.').map(bare);
      if (lhs[0] !== rest[0]) continue;
      if (lhs.length === 1 || rest.slice(0, lhs.length).every((r, j) => r === lhs[j])) return i + 1;
    }
  }
  return undefined;
}
