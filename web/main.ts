// The viewer page. The worker's bundle is inlined (WORKER_SOURCE, set by build.mjs) and started
// from a blob: URL, so the page works opened straight from disk, where file:// workers are refused.
import { ViewerClient } from '../src/browser/client.ts';
import { App } from './app.ts';
import { mountInspector } from './inspector.ts';
import { mountOpen } from './open.ts';
import { mountPlot } from './plot.ts';
import { mountState } from './state.ts';
import { mountMarks } from './summary.ts';
import { mountTable } from './table.ts';

declare const WORKER_SOURCE: string;

const worker = new Worker(URL.createObjectURL(new Blob([WORKER_SOURCE], { type: 'text/javascript' })), {
  name: 'logwrites',
});
const app = new App(new ViewerClient(worker));
mountMarks(app);
mountTable(app);
mountPlot(app);
mountInspector(app);
mountState(app);
mountOpen(app);
