// `toolcell explain` of each bundled profile (and of the examples) on the fixed host: what an admin reads is checked in
// (test/golden/<tool>.explain.txt), so a policy change shows in review. UPDATE_GOLDEN=1 rewrites.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AddressPool, DEFAULT_POOL } from '../../../src/plan/address-pool.js';
import { parseBlock } from '../../../src/plan/egress-allow.js';
import type { HostFacts } from '../../../src/plan/host-facts.js';
import { planNetworkRules } from '../../../src/plan/network-plan.js';
import { parseProfile } from '../../../src/profile/parse-profile.js';
import { PROFILES } from '../../helpers/paths.js';
import { toBwrapCommand } from '../../../src/plan/bwrap-command.js';
import { placeholderArguments } from '../../../src/plan/command-template.js';
import { explain, renderExplanation } from '../../../src/plan/explain.js';
import { planSandbox } from '../../../src/plan/sandbox-plan.js';
import { planSeccomp } from '../../../src/plan/seccomp-policy.js';
import { checkGolden } from '../../helpers/golden.js';
import { bundled, FACTS } from '../../helpers/host-fixture.js';

for (const tool of ['python', 'search', 'shell']) {
  test(`explain ${tool} matches test/golden/${tool}.explain.txt`, () => {
    const profile = { ...bundled(tool), file: `/etc/toolcell/tools/${tool}.toml` };
    const plan = planSandbox(profile, placeholderArguments(profile.template), FACTS);
    checkGolden(`${tool}.explain.txt`, renderExplanation(explain(profile, plan, toBwrapCommand(plan), planSeccomp(profile.seccomp), undefined)));
  });
}

// The examples in profiles/examples, on the fixed host with their paths present and their host
// names resolved to fixed documentation addresses; the host table name uses a fixed daemon id.
const EXAMPLE_FACTS = {
  ...FACTS,
  paths: {
    ...FACTS.paths,
    '/srv/git/project': { type: 'directory', real: '/srv/git/project' },
    '/etc/ssl/certs': { type: 'directory', real: '/etc/ssl/certs' },
    '/usr/share/ca-certificates': { type: 'directory', real: '/usr/share/ca-certificates' },
    '/srv/infra/project': { type: 'directory', real: '/srv/infra/project' },
    '/srv/infra/state': { type: 'directory', real: '/srv/infra/state' },
  },
  resolved: {
    'api.github.com': ['192.0.2.10'],
    'pypi.org': ['192.0.2.20', '192.0.2.21'],
    'sts.eu-west-1.amazonaws.com': ['198.51.100.30'],
    'ec2.eu-west-1.amazonaws.com': ['198.51.100.40'],
  },
} satisfies HostFacts;

for (const tool of ['git-log', 'http-get', 'terraform-plan']) {
  test(`profiles/examples/${tool}.toml: explain matches test/golden/examples/${tool}.explain.txt`, () => {
    const r = parseProfile(tool, `/etc/toolcell/tools/${tool}.toml`, readFileSync(join(PROFILES, 'examples', `${tool}.toml`), 'utf8'));
    assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
    const profile = r.profile;
    const plan = planSandbox(profile, placeholderArguments(profile.template), EXAMPLE_FACTS);
    const pool = new AddressPool({ v4: parseBlock(DEFAULT_POOL.v4), v6: parseBlock(DEFAULT_POOL.v6) }, [], '4242.777');
    const network = plan.network ? planNetworkRules(plan.network, { ...pool.slot(0), v6: undefined }, pool.cidrs) : undefined;
    checkGolden(`examples/${tool}.explain.txt`, renderExplanation(explain(profile, plan, toBwrapCommand(plan), planSeccomp(profile.seccomp), network)));
  });
}
