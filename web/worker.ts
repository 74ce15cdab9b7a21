// The viewer's Web Worker: reads, indexes, hashes and replays, so the page never blocks.
import { loadKernels } from '../src/kernels/load.ts';
import type { Port } from '../src/browser/protocol.ts';
import { serveViewer } from '../src/browser/service.ts';

serveViewer(self as unknown as Port, loadKernels);
