#!/usr/bin/env node
import '../dist/logwrites.js';
