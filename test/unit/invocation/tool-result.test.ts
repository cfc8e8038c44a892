// What an MCP host shows for one invocation: on success only stdout; on failure stdout, stderr and a
// status line saying what happened.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { capDeniedEgress, DENIED_EGRESS_LISTED, describeToolResult, isFailure, type KillReason, type ToolResult } from '../../../src/invocation/tool-result.js';

const OK: ToolResult = {
  invocationId: '00000000-0000-4000-8000-000000000000',
  tool: 't',
  exitCode: 0,
  signal: null,
  reason: null,
  durationMs: 12.5,
  stdout: 'hello\n',
  stderr: 'warning: x\n',
  stdoutTruncated: false,
  stderrTruncated: false,
  stdoutBytes: 6,
  stderrBytes: 11,
  outputCap: 1024 * 1024,
  peakMemoryBytes: null,
  cpuTimeMs: null,
  peakPids: null,
};
const result = (over: Partial<ToolResult>): ToolResult => ({ ...OK, ...over });

describe('isFailure', () => {
  const rows: readonly [string, Partial<ToolResult>, boolean][] = [
    ['exit 0, no reason, nothing truncated', {}, false],
    ['exit 0 with stderr output', { stderr: 'noise' }, false],
    ['exit 1', { exitCode: 1 }, true],
    ['killed by a signal (exitCode null)', { exitCode: null, signal: 'SIGKILL' }, true],
    ['exit 0 but toolcell killed it', { reason: 'timeout' }, true],
    ['exit 0 but stdout truncated', { stdoutTruncated: true }, true],
    ['exit 0 but stderr truncated', { stderrTruncated: true }, true],
  ];
  for (const [name, over, failed] of rows) test(name, () => assert.equal(isFailure(result(over)), failed));
});

describe('describeToolResult', () => {
  test('success shows only stdout (stderr is not shown)', () => {
    assert.equal(describeToolResult(OK), 'hello\n');
  });

  test('success with empty stdout is the empty string', () => {
    assert.equal(describeToolResult(result({ stdout: '', stderr: '' })), '');
  });

  test('failure adds [stderr] and the exit status', () => {
    assert.equal(describeToolResult(result({ exitCode: 2 })), 'hello\n[stderr]\nwarning: x\n[toolcell: exit status 2]');
  });

  test('failure: newlines are added where stdout and stderr lack them', () => {
    assert.equal(describeToolResult(result({ exitCode: 1, stdout: 'out', stderr: 'err' })), 'out\n[stderr]\nerr\n[toolcell: exit status 1]');
  });

  test('failure with no output at all is just the status line', () => {
    assert.equal(describeToolResult(result({ exitCode: 1, stdout: '', stderr: '' })), '[toolcell: exit status 1]');
  });

  test('failure with only stderr', () => {
    assert.equal(describeToolResult(result({ exitCode: 127, stdout: '', stderr: 'bash: nope: command not found\n' })), '[stderr]\nbash: nope: command not found\n[toolcell: exit status 127]');
  });

  test('failure with only stdout: no [stderr] header', () => {
    assert.equal(describeToolResult(result({ exitCode: 3, stderr: '' })), 'hello\n[toolcell: exit status 3]');
  });

  test('a signal is named', () => {
    assert.equal(describeToolResult(result({ exitCode: null, signal: 'SIGSEGV', stderr: '' })), 'hello\n[toolcell: killed by SIGSEGV]');
  });

  test('stdout truncation marker names the cap and the bytes written', () => {
    const r = result({ stdout: 'abc', stderr: '', stdoutTruncated: true, stdoutBytes: 99_999, outputCap: 1024, reason: 'output', exitCode: null, signal: 'SIGKILL' });
    assert.equal(describeToolResult(r), 'abc\n[toolcell: stdout truncated at 1K of 99999 bytes]\n[toolcell: killed: the output limit was reached]');
  });

  test('stderr truncation marker', () => {
    const r = result({ exitCode: 0, stdout: 'ok\n', stderr: 'eee', stderrTruncated: true, stderrBytes: 5_000_000, outputCap: 1024 * 1024, reason: 'output' });
    assert.equal(describeToolResult(r), 'ok\n[stderr]\neee\n[toolcell: stderr truncated at 1M of 5000000 bytes]\n[toolcell: killed: the output limit was reached]');
  });

  test('both streams truncated', () => {
    const r = result({ stdout: 'o', stderr: 'e', stdoutTruncated: true, stderrTruncated: true, stdoutBytes: 10, stderrBytes: 20, outputCap: 1, reason: 'output' });
    assert.equal(
      describeToolResult(r),
      'o\n[toolcell: stdout truncated at 1 of 10 bytes]\n[stderr]\ne\n[toolcell: stderr truncated at 1 of 20 bytes]\n[toolcell: killed: the output limit was reached]',
    );
  });

  const reasons: readonly [KillReason, string][] = [
    ['timeout', 'killed: the time limit ran out'],
    ['output', 'killed: the output limit was reached'],
    ['cancelled', 'killed: the call was cancelled'],
    ['setup', 'the sandbox could not be set up'],
    ['shutdown', 'killed: toolcell is shutting down'],
  ];
  for (const [reason, text] of reasons) {
    test(`reason ${reason}: "${text}" (the reason wins over the signal)`, () => {
      const r = result({ reason, exitCode: null, signal: 'SIGKILL', stdout: 'partial', stderr: '' });
      assert.equal(describeToolResult(r), `partial\n[toolcell: ${text}]`);
    });
  }
});

describe('capDeniedEgress', () => {
  const d = (n: number, packets: number) => ({ destination: `198.51.100.${n % 250}`, protocol: 'tcp', port: 1000 + n, packets });

  test(`a scan's thousands of destinations: the ${DENIED_EGRESS_LISTED} most refused are listed, the rest summed up, in the answer's text too`, () => {
    const all = Array.from({ length: 5000 }, (_, i) => d(i, i === 4999 ? 50 : 1));
    const capped = capDeniedEgress(all);
    assert.equal(capped.deniedEgress!.length, DENIED_EGRESS_LISTED);
    assert.deepEqual(capped.deniedEgress![0], d(4999, 50));
    assert.deepEqual(capped.deniedEgressOmitted, { destinations: 5000 - DENIED_EGRESS_LISTED, packets: 5000 - DENIED_EGRESS_LISTED });
    const text = describeToolResult({ ...OK, exitCode: 1, ...capped });
    assert.match(text, /\[toolcell: exit status 1\]\n\[toolcell: network access refused by the tool's allowlist: 198\.51\.100\.249:5999\/tcp \(50\), /);
    assert.match(text, new RegExp(`, and ${5000 - DENIED_EGRESS_LISTED} more \\(${5000 - DENIED_EGRESS_LISTED}\\)\\]$`));
    assert.ok(text.length < 4000, `${text.length} characters`);
  });

  test('a few are listed whole, most refused first, nothing omitted', () => {
    assert.deepEqual(capDeniedEgress([d(1, 1), d(2, 3)]), { deniedEgress: [d(2, 3), d(1, 1)] });
    assert.deepEqual(capDeniedEgress([]), { deniedEgress: [] });
  });
});
