// Output of a tool that ran on a terminal, made plain text: escape sequences (colours, cursor
// moves, titles) removed, CRLF turned into LF, other control characters dropped.

const OSC = /\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)/g;
const CSI = /\x1b\[[0-?]*[ -/]*[@-~]/g;
const ESC = /\x1b[@-Z\\-_]|\x1b[()][0-9A-Za-z]|\x1b./g;
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f]/g;

export function stripTerminalControls(text: string): string {
  return text.replace(OSC, '').replace(CSI, '').replace(ESC, '').replace(/\r+\n/g, '\n').replace(CONTROL, '');
}
