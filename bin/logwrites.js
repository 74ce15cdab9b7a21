#!/usr/bin/env node
// The `logwrites` CLI: its bundle, run with its code cache (dist/cli.cjs; src/cli/start.ts).
// CommonJS (bin/package.json), since Node starts a CommonJS entry faster.
require('../dist/cli.cjs');
