#!/usr/bin/env node
// Drop-in for xfstests' src/log-writes/replay-log (see README).
import '../dist/replay-log.js';
