#!/usr/bin/env node
// The `logwrites` CLI (an ES module bundle, loaded from this CommonJS entry: see bin/package.json).
import('../dist/cli.js');
