// The tools that the conformance suite's tools-call scenarios ask a server for, by name, written
// as ordinary toolcell profiles: each runs a real sandboxed program, so the scenario checks what
// toolcell makes of a program's output, exit status and duration. Each has its own tctest- user.
const SYSTEM = 'read_only = ["/usr", "/lib", "/lib64", "/bin"]';

function profile(description: string, command: readonly string[], user: string): string {
  return [
    `description = ${JSON.stringify(description)}`,
    `command = ${JSON.stringify(command)}`,
    '[input]',
    'type = "object"',
    '[identity]',
    `user = ${JSON.stringify(user)}`,
    '[filesystem]',
    SYSTEM,
    '[limits]',
    'timeout = "20s"',
    '',
  ].join('\n');
}

export const CONFORMANCE_TOOLS = {
  // tools-call-simple-text: a text result.
  'test_simple_text.toml': profile('Prints a fixed line.', ['/bin/echo', 'This is a simple text response for testing.'], 'tctest-conf-text'),
  // tools-call-error: a program that fails is a result with isError and a message, not a protocol error.
  'test_error_handling.toml': profile(
    'Always fails.',
    ['/bin/sh', '-c', 'echo "This tool intentionally returns an error for testing" >&2; exit 1'],
    'tctest-conf-error',
  ),
  // tools-call-with-progress: toolcell reports progress once a second while a call runs, so a call
  // of 3.5 s gives the three increasing notifications the scenario wants.
  'test_tool_with_progress.toml': profile('Runs for 3.5 s.', ['/bin/sleep', '3.5'], 'tctest-conf-progress'),
} as const;

export const CONFORMANCE_USERS = ['tctest-conf-text', 'tctest-conf-error', 'tctest-conf-progress'] as const;
