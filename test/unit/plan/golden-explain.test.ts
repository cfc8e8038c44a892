// `toolcell explain` of each bundled profile on the fixed host: what an admin reads is checked in
// (test/golden/<tool>.explain.txt), so a policy change shows in review. UPDATE_GOLDEN=1 rewrites.
import { test } from 'node:test';
import { toBwrapCommand } from '../../../src/plan/bwrap-command.js';
import { placeholderNames } from '../../../src/plan/command-template.js';
import { explain, renderExplanation } from '../../../src/plan/explain.js';
import { planSandbox } from '../../../src/plan/sandbox-plan.js';
import { planSeccomp } from '../../../src/plan/seccomp-policy.js';
import { checkGolden } from '../../helpers/golden.js';
import { bundled, FACTS } from '../../helpers/host-fixture.js';

for (const tool of ['python', 'search', 'shell']) {
  test(`explain ${tool} matches test/golden/${tool}.explain.txt`, () => {
    const profile = { ...bundled(tool), file: `/etc/toolcell/tools/${tool}.toml` };
    const args = Object.fromEntries(placeholderNames(profile.template).map((n) => [n, `<${n}>`]));
    const plan = planSandbox(profile, args, FACTS);
    checkGolden(`${tool}.explain.txt`, renderExplanation(explain(profile, plan, toBwrapCommand(plan), planSeccomp(profile.seccomp), undefined)));
  });
}
