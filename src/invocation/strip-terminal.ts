// Output of a tool that ran on a terminal, made plain text: escape sequences (colours, cursor
// moves, titles) removed, CRLF turned into LF, other control characters dropped.

// Terminals that honour C1 controls sent as UTF-8 act on U+009B (CSI), U+009D (OSC), U+009C (ST) as
// on their 7-bit forms, so those go too.
const OSC = /(?:\x1b\]|\x9d)[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)/g;
const CSI = /(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]/g;
const ESC = /\x1b[@-Z\\-_]|\x1b[()][0-9A-Za-z]|\x1b./g;
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/g;

export function stripTerminalControls(text: string): string {
  return text.replace(OSC, '').replace(CSI, '').replace(ESC, '').replace(/\r+\n/g, '\n').replace(CONTROL, '');
}
