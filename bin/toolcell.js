#!/usr/bin/env node
// The heap's growth is set before the modules load (src/server/daemon-runtime.ts says why).
import { tuneHeap } from '../dist/src/server/daemon-runtime.js';

tuneHeap();
await import('../dist/src/cli.js');
