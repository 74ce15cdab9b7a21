// The NBD wire (NetworkBlockDevice doc/proto.md): magics, numbers and the encoders of what the
// server sends. Shared with the tests' raw clients, so that both sides speak from one table;
// the phases that use them are handshake.ts and transmission.ts.

export const NBDMAGIC = 0x4e42444d41474943n;
export const IHAVEOPT = 0x49484156454f5054n;
export const OPT_REPLY_MAGIC = 0x3e889045565a9n;
export const REQUEST_MAGIC = 0x25609513;
export const SIMPLE_REPLY_MAGIC = 0x67446698;

/** Bytes of a request header, of a simple reply and of an option reply's header. */
export const REQUEST_BYTES = 28;
export const SIMPLE_REPLY_BYTES = 16;
export const OPTION_REPLY_BYTES = 20;

/** Handshake flags (server) and client flags: the same two bits. */
export const HandshakeFlag = { FIXED_NEWSTYLE: 1, NO_ZEROES: 2 } as const;

/** Options; the server answers EXPORT_NAME, ABORT, LIST, INFO and GO, others ERR_UNSUP. */
export const Opt = { EXPORT_NAME: 1, ABORT: 2, LIST: 3, STARTTLS: 5, INFO: 6, GO: 7, STRUCTURED_REPLY: 8 } as const;
export const Rep = {
  ACK: 1,
  SERVER: 2,
  INFO: 3,
  ERR_UNSUP: 0x80000001,
  ERR_INVALID: 0x80000003,
  ERR_UNKNOWN: 0x80000006,
} as const;
export const Info = { EXPORT: 0, NAME: 1, DESCRIPTION: 2, BLOCK_SIZE: 3 } as const;

/** Transmission flags: what this server accepts. */
export const TransmissionFlag = {
  HAS_FLAGS: 1,
  SEND_FLUSH: 4,
  SEND_FUA: 8,
  SEND_TRIM: 32,
  SEND_WRITE_ZEROES: 64,
} as const;
export const TRANSMISSION_FLAGS = Object.values(TransmissionFlag).reduce((a, b) => a | b, 0);

/** Commands; CACHE and BLOCK_STATUS are listed so that tests can send what the server refuses. */
export const Cmd = {
  READ: 0,
  WRITE: 1,
  DISC: 2,
  FLUSH: 3,
  TRIM: 4,
  CACHE: 5,
  WRITE_ZEROES: 6,
  BLOCK_STATUS: 7,
} as const;
export const CmdFlag = { FUA: 1 } as const;

export const Errno = { EPERM: 1, EIO: 5, ENOMEM: 12, EINVAL: 22, ENOSPC: 28, ESHUTDOWN: 108 } as const;

/** What the handshake tells a client of the export. */
export interface NbdExport {
  readonly name: string;
  readonly description?: string;
  readonly size: number;
  /** Requests must be aligned to this (the log's sectorsize). */
  readonly blockSize: number;
  /** Largest READ or WRITE payload accepted. */
  readonly maxPayload: number;
}

/** The server's first message: magics and handshake flags. */
export function greeting(): Buffer {
  const b = Buffer.alloc(18);
  b.writeBigUInt64BE(NBDMAGIC, 0);
  b.writeBigUInt64BE(IHAVEOPT, 8);
  b.writeUInt16BE(HandshakeFlag.FIXED_NEWSTYLE | HandshakeFlag.NO_ZEROES, 16);
  return b;
}

export function optionReply(opt: number, type: number, data: Uint8Array = new Uint8Array(0)): Buffer {
  const b = Buffer.allocUnsafe(OPTION_REPLY_BYTES + data.length);
  b.writeBigUInt64BE(OPT_REPLY_MAGIC, 0);
  b.writeUInt32BE(opt, 8);
  b.writeUInt32BE(type, 12);
  b.writeUInt32BE(data.length, 16);
  b.set(data, OPTION_REPLY_BYTES);
  return b;
}

/** The reply to NBD_OPT_EXPORT_NAME: size and flags, then 124 zeros unless the client said NO_ZEROES. */
export function exportNameReply(exp: NbdExport, noZeroes: boolean): Buffer {
  const b = Buffer.alloc(noZeroes ? 10 : 134);
  b.writeBigUInt64BE(BigInt(exp.size), 0);
  b.writeUInt16BE(TRANSMISSION_FLAGS, 8);
  return b;
}

/** A server entry of NBD_OPT_LIST's reply. */
export function listEntry(name: string): Buffer {
  const n = Buffer.from(name, 'utf8');
  const entry = Buffer.alloc(4 + n.length);
  entry.writeUInt32BE(n.length, 0);
  n.copy(entry, 4);
  return entry;
}

export function infoExport(exp: NbdExport): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt16BE(Info.EXPORT, 0);
  b.writeBigUInt64BE(BigInt(exp.size), 2);
  b.writeUInt16BE(TRANSMISSION_FLAGS, 10);
  return b;
}

export function infoText(type: number, text: string): Buffer {
  return Buffer.concat([Buffer.from([0, type]), Buffer.from(text, 'utf8')]);
}

export function infoBlockSize(exp: NbdExport): Buffer {
  const b = Buffer.alloc(14);
  b.writeUInt16BE(Info.BLOCK_SIZE, 0);
  b.writeUInt32BE(exp.blockSize, 2);
  b.writeUInt32BE(Math.max(exp.blockSize, 4096), 6);
  b.writeUInt32BE(exp.maxPayload, 10);
  return b;
}

export function simpleReply(cookie: Buffer, errno: number): Buffer {
  const b = Buffer.allocUnsafe(SIMPLE_REPLY_BYTES);
  b.writeUInt32BE(SIMPLE_REPLY_MAGIC, 0);
  b.writeUInt32BE(errno, 4);
  cookie.copy(b, 8);
  return b;
}
