// Output of a tool that ran on a terminal, made plain text: escape sequences (colours, cursor
// moves, titles) removed, CRLF turned into LF, other control characters dropped.
//
// One pass over the text, no regular expressions: the tool writes this text, and a pattern that
// scans ahead for a sequence's end (an OSC's terminator) is quadratic on a text of openers only (a
// megabyte of U+009D held the daemon's event loop for minutes).

// Terminals that honour C1 controls sent as UTF-8 act on U+009B (CSI), U+009D (OSC), U+009C (ST) as
// on their 7-bit forms, so those go too.
const ESC = 0x1b;
const BEL = 0x07;
const C1_CSI = 0x9b;
const C1_OSC = 0x9d;
const C1_ST = 0x9c;
const LINE_ENDS = [0x0a, 0x0d, 0x2028, 0x2029];

/** Tab and newline stay; every other C0 control, DEL and every C1 control goes. */
const isDropped = (c: number) => (c <= 0x1f && c !== 0x09 && c !== 0x0a) || (c >= 0x7f && c <= 0x9f);

/** The index after a CSI's parameters, intermediates and final byte, from `i` (just after its opener). */
function skipCsi(text: string, i: number): number {
  while (i < text.length && text.charCodeAt(i) >= 0x30 && text.charCodeAt(i) <= 0x3f) i++;
  while (i < text.length && text.charCodeAt(i) >= 0x20 && text.charCodeAt(i) <= 0x2f) i++;
  if (i < text.length && text.charCodeAt(i) >= 0x40 && text.charCodeAt(i) <= 0x7e) i++;
  return i;
}

/**
 * The index after an OSC string, from `i` (just after its opener): it ends at BEL, ST (ESC \ or
 * U+009C), or before any other ESC, which a terminal takes as the start of a new sequence. -1 when
 * nothing ends it before the end of the text.
 */
function oscEnd(text: string, i: number): number {
  for (; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === BEL || c === C1_ST) return i + 1;
    if (c === ESC) return text.charCodeAt(i + 1) === 0x5c ? i + 2 : i;
  }
  return -1;
}

export function stripTerminalControls(text: string): string {
  const kept: string[] = [];
  // An OSC that nothing ends loses only its opener (text after it is kept, as before); once one
  // has run out, every later one would too, so the rest is not scanned again for each of them.
  let oscRunsOut = false;
  const skipOsc = (body: number): number => {
    const end = oscRunsOut ? -1 : oscEnd(text, body);
    if (end < 0) oscRunsOut = true;
    return end < 0 ? body : end;
  };
  let from = 0;
  let i = 0;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c !== ESC && c !== C1_CSI && c !== C1_OSC && !isDropped(c)) {
      i++;
      continue;
    }
    if (i > from) kept.push(text.slice(from, i));
    const next = text.charCodeAt(i + 1);
    if (c === C1_CSI) i = skipCsi(text, i + 1);
    else if (c === C1_OSC) i = skipOsc(i + 1);
    else if (c !== ESC) i++;
    else if (next === 0x5b) i = skipCsi(text, i + 2);
    else if (next === 0x5d) i = skipOsc(i + 2);
    // Character set designations: ESC ( B and the like.
    else if ((next === 0x28 || next === 0x29) && /[0-9A-Za-z]/.test(text.charAt(i + 2))) i += 3;
    // Any other escape takes one character with it (both halves of a surrogate pair), but never
    // a line's end.
    else i += Number.isNaN(next) || LINE_ENDS.includes(next) ? 1 : next >= 0xd800 && next <= 0xdbff ? 3 : 2;
    from = i;
  }
  if (from < text.length) kept.push(text.slice(from));
  return kept.join('');
}
