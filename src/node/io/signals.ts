// SIGINT and SIGTERM: the signals that ask a long-running command to stop. Every command
// hears them here, so they all stop the same way: while a command listens, the default action
// (the process ends at once) is off and the command finishes cleanly instead.

import * as os from 'node:os';

export const STOP_SIGNALS = ['SIGINT', 'SIGTERM'] as const;
export type StopSignal = (typeof STOP_SIGNALS)[number];

/** Call `listener` at every SIGINT or SIGTERM until the returned function is called. */
export function onStopSignals(listener: (signal: StopSignal) => void): () => void {
  for (const s of STOP_SIGNALS) process.on(s, listener);
  return () => {
    for (const s of STOP_SIGNALS) process.off(s, listener);
  };
}

/** Resolves at the first SIGINT or SIGTERM; a second one then has its default action again. */
export function nextStopSignal(): Promise<StopSignal> {
  return new Promise((resolve) => {
    const off = onStopSignals((signal) => {
      off();
      resolve(signal);
    });
  });
}

/** The status a shell reports for a process a signal stopped: 128 + its number. */
export const signalStatus = (signal: NodeJS.Signals): number => 128 + os.constants.signals[signal];
