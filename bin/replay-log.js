#!/usr/bin/env node
// Drop-in for xfstests' src/log-writes/replay-log (see README). CommonJS (bin/package.json),
// since xfstests starts it once per call and a CommonJS entry starts faster.
require('../dist/replay-log.cjs');
