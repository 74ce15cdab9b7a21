// The exit statuses of `logwrites`, and the one mapping from what a command throws to the
// line it prints and the status it exits with: by the error's code (see src/errors.ts).

import { CliError, isLogwritesError, type ErrorCode } from '../errors.ts';

export const EXIT_OK = 0;
export const EXIT_INPUT = 1;
export const EXIT_CHECK = 2;

/**
 * The status for each code. Every error logwrites throws is about its input or its use (a
 * failed check is a result, not an error: EXIT_CHECK is set by the command that ran it), so all
 * are EXIT_INPUT today; the table is exhaustive so that a new code must be given its status.
 */
const STATUS: Record<ErrorCode, number> = {
  EFORMAT: EXIT_INPUT,
  ELOGFULL: EXIT_INPUT,
  ENOTFOUND: EXIT_INPUT,
  EPASTTARGET: EXIT_INPUT,
  ETOOSMALL: EXIT_INPUT,
  EREPLAY: EXIT_INPUT,
  ECANCELLED: EXIT_INPUT,
  EARG: EXIT_INPUT,
  ECLOSED: EXIT_INPUT,
  ENOPOINT: EXIT_INPUT,
  EEMPTY: EXIT_INPUT,
  ESTATEID: EXIT_INPUT,
  EMERGE: EXIT_INPUT,
  ESHARD: EXIT_INPUT,
  EFSMETA: EXIT_INPUT,
  EIMAGESMALL: EXIT_INPUT,
  EKERNEL: EXIT_INPUT,
  EINTERNAL: EXIT_INPUT,
  EBADCALL: EXIT_INPUT,
  EHTTP: EXIT_INPUT,
  EUSAGE: EXIT_INPUT,
  ERESUME: EXIT_INPUT,
  EREPORT: EXIT_INPUT,
  ENBD: EXIT_INPUT,
  EREFUSED: EXIT_INPUT,
  EHELD: EXIT_INPUT,
  ESERVE: EXIT_INPUT,
  ESHORTREAD: EXIT_INPUT,
  EVIEWER: EXIT_INPUT,
  EWORKIMAGE: EXIT_INPUT,
  EOPTIONS: EXIT_INPUT,
  ETARGET: EXIT_INPUT,
  EREWRITE: EXIT_INPUT,
  EDEMO: EXIT_INPUT,
  EPLOT: EXIT_INPUT,
  ESERVER: EXIT_INPUT,
};

/** The message and status for anything a command throws; a CliError may carry its own status. */
export function failure(e: unknown): { message: string; status: number } {
  if (e instanceof CliError && e.status !== undefined) return { message: e.message, status: e.status };
  if (isLogwritesError(e)) return { message: e.message, status: STATUS[e.code] };
  // A system error (ENOENT, EACCES...) is about the input too; anything else is a bug, shown by its message.
  return { message: e instanceof Error ? e.message : String(e), status: EXIT_INPUT };
}
