import { test } from 'node:test';
import assert from 'node:assert/strict';
import { judgeNode } from '../../src/runtime/node-support.js';
import { runCli } from '../helpers/daemon.js';
import { realKernelSkipReason } from '../helpers/fixtures.js';

test('toolcell doctor reports bwrap, user namespaces, libseccomp and the cgroup mode', { skip: realKernelSkipReason() }, async () => {
  const r = await runCli(['doctor']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^ok {3}bubblewrap: bubblewrap \d+\.\d+\.\d+/m);
  assert.match(r.stdout, /^ok {3}user namespaces: max_user_namespaces \d+$/m);
  assert.match(r.stdout, /^ok {3}libseccomp: /m);
  assert.match(r.stdout, /^ok {3}cgroups: (v1|v2 \(delegated subtree\)), invocation cgroups in \//m);
  assert.match(r.stdout, /^ok {3}kernel: Linux \d+\.\d+/m);
  assert.match(r.stdout, /^ok {3}nftables: nftables v\d+\.\d+\.\d+ .*, libnftables usable/m);
  assert.match(r.stdout, /^ok {3}helpers: \/\S+\/run-as \(starts bwrap as the tool's user\), \/\S+\/sandbox-exec \(the program in every sandbox\)$/m);
  assert.match(r.stdout, /^(ok|warn) landlock: /m);
});

test('toolcell doctor names the Node.js runtime it runs on, its version and whether it is supported', { skip: realKernelSkipReason() }, async () => {
  const r = await runCli(['doctor']);
  const line = r.stdout.split('\n').find((l) => / runtime: /.test(l));
  const verdict = judgeNode(process.version, new Date());
  // runCli starts the CLI with this test's own node.
  assert.equal(line?.startsWith(`${verdict.supported ? 'ok  ' : 'warn'} runtime: ${process.execPath} ${process.version}: `), true, line);
  assert.match(line!, verdict.supported ? /: LTS, supported until \d{4}-\d\d-\d\d$/ : /fix: sh scripts\/install.sh --node PATH/);
});
