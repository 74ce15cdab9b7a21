// The fixed newstyle handshake: the server's greeting, the client's flags, then options until
// one enters transmission (EXPORT_NAME or GO) or the client goes.

import type { Duplex } from 'node:stream';
import {
  exportNameReply,
  greeting,
  HandshakeFlag,
  IHAVEOPT,
  Info,
  infoBlockSize,
  infoExport,
  infoText,
  listEntry,
  Opt,
  optionReply,
  Rep,
  type NbdExport,
} from './protocol.ts';
import type { Receiver } from './receiver.ts';

/** The name and info requests of NBD_OPT_INFO / NBD_OPT_GO, or undefined when malformed. */
function parseInfoRequest(data: Buffer): { name: string; infos: number[] } | undefined {
  if (data.length < 6) return undefined;
  const nameLen = data.readUInt32BE(0);
  if (4 + nameLen + 2 > data.length) return undefined;
  const name = data.toString('utf8', 4, 4 + nameLen);
  const count = data.readUInt16BE(4 + nameLen);
  if (data.length !== 4 + nameLen + 2 + 2 * count) return undefined;
  const infos: number[] = [];
  for (let i = 0; i < count; i++) infos.push(data.readUInt16BE(4 + nameLen + 2 + 2 * i));
  return { name, infos };
}

const MAX_OPTION_BYTES = 64 * 1024;
/** Options a client may send before it must pick an export. */
const MAX_OPTIONS = 1000;
const CLIENT_FLAGS = HandshakeFlag.FIXED_NEWSTYLE | HandshakeFlag.NO_ZEROES;

/** Answer NBD_OPT_INFO or NBD_OPT_GO; true when the export was described. */
function describeExport(
  sock: Duplex,
  opt: number,
  data: Buffer,
  exp: NbdExport,
  known: (name: string) => boolean,
): boolean {
  const req = parseInfoRequest(data);
  if (!req) {
    sock.write(optionReply(opt, Rep.ERR_INVALID));
    return false;
  }
  if (!known(req.name)) {
    sock.write(optionReply(opt, Rep.ERR_UNKNOWN));
    return false;
  }
  sock.write(optionReply(opt, Rep.INFO, infoExport(exp)));
  if (req.infos.includes(Info.NAME)) sock.write(optionReply(opt, Rep.INFO, infoText(Info.NAME, exp.name)));
  if (req.infos.includes(Info.DESCRIPTION) && exp.description) {
    sock.write(optionReply(opt, Rep.INFO, infoText(Info.DESCRIPTION, exp.description)));
  }
  // Sent even when not asked for, as the protocol allows: alignment is enforced.
  sock.write(optionReply(opt, Rep.INFO, infoBlockSize(exp)));
  sock.write(optionReply(opt, Rep.ACK));
  return true;
}

/**
 * Negotiate an export. Resolves true when the client entered transmission, false when it
 * aborted, disconnected or broke the protocol (the caller then just closes the socket).
 */
export async function negotiate(sock: Duplex, rx: Receiver, exp: NbdExport): Promise<boolean> {
  sock.write(greeting());
  const cflags = await rx.read(4);
  if (!cflags) return false;
  const clientFlags = cflags.readUInt32BE(0);
  if (clientFlags & ~CLIENT_FLAGS) return false;
  const noZeroes = (clientFlags & HandshakeFlag.NO_ZEROES) !== 0;
  const known = (name: string) => name === exp.name || name === '';

  for (let options = 0; options < MAX_OPTIONS; options++) {
    const head = await rx.read(16);
    if (!head || head.readBigUInt64BE(0) !== IHAVEOPT) return false;
    const opt = head.readUInt32BE(8);
    const len = head.readUInt32BE(12);
    if (len > MAX_OPTION_BYTES) return false;
    const data = len ? await rx.read(len) : Buffer.alloc(0);
    if (!data) return false;
    switch (opt) {
      case Opt.EXPORT_NAME:
        if (!known(data.toString('utf8'))) return false;
        sock.write(exportNameReply(exp, noZeroes));
        return true;
      case Opt.ABORT:
        sock.write(optionReply(opt, Rep.ACK));
        return false;
      case Opt.LIST:
        if (len) {
          sock.write(optionReply(opt, Rep.ERR_INVALID));
          break;
        }
        sock.write(optionReply(opt, Rep.SERVER, listEntry(exp.name)));
        sock.write(optionReply(opt, Rep.ACK));
        break;
      case Opt.INFO:
      case Opt.GO:
        if (describeExport(sock, opt, data, exp, known) && opt === Opt.GO) return true;
        break;
      default:
        sock.write(optionReply(opt, Rep.ERR_UNSUP));
    }
  }
  return false;
}
