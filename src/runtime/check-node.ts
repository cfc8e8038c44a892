// `node dist/src/runtime/check-node.js`: whether the node running it may run the service (exit 0)
// or not (exit 1), with the reason on stdout. scripts/install.sh runs it with each candidate
// runtime; a node too old to even load this module fails, which is the right answer as well.
import { judgeNode } from './node-support.js';

const verdict = judgeNode(process.version, new Date());
process.stdout.write(`${verdict.detail}\n`);
process.exitCode = verdict.supported ? 0 : 1;
