import { BadArgument, LogFormatError } from './errors.ts';
// The dm-log-writes on-disk format, version 1: everything about its bytes lives here.
//
// Layout (all integers little-endian, S = sectorsize from the super):
//   bytes 0..S          super: u64 magic, u64 version, u64 nr_entries, u32 sectorsize, zero padding
//   then per entry      header sector (S bytes): u64 sector, u64 nr_sectors, u64 flags, u64 data_len,
//                       mark text (MARK only), zero padding
//                       payload: nr_sectors * S bytes, absent for DISCARD and for nr_sectors = 0
// `sector` and `nr_sectors` count units of S, not 512.

export const MAGIC = 0x6a736677736872n;
export const VERSION = 1;
export const SUPER_BYTES = 32; // sizeof(struct log_write_super) with its tail padding
export const HEADER_BYTES = 32; // the four u64 fields of struct log_write_entry
export const MIN_SECTORSIZE = 512;
export const MAX_SECTORSIZE = 16 * 1024 * 1024;
export const END_MARK = 'dm-log-writes-end';

/** Byte offset of each field of the super (struct log_write_super) from the log's start. */
export const SuperField = { MAGIC: 0, VERSION: 8, NR_ENTRIES: 16, SECTORSIZE: 24 } as const;
/** Byte offset of each field of an entry header (struct log_write_entry) in its sector. */
export const HeaderField = { SECTOR: 0, NR_SECTORS: 8, FLAGS: 16, DATA_LEN: 24 } as const;

export const Flag = {
  FLUSH: 1,
  FUA: 2,
  DISCARD: 4,
  MARK: 8,
  METADATA: 16,
} as const;
export type FlagName = keyof typeof Flag;
const FLAG_ORDER: readonly FlagName[] = ['FLUSH', 'FUA', 'DISCARD', 'MARK', 'METADATA'];
/** Every flag bit the format defines; any other bit is unknown to it. */
export const KNOWN_FLAGS = 31;

/** Whether an entry's flags carry bits the format does not define (above bit 4, or in the high word). */
export const hasUnknownFlags = (flags: number, flagsHigh = 0) => (flags & ~KNOWN_FLAGS) !== 0 || flagsHigh !== 0;

export interface LogSuper {
  readonly version: number;
  /** Entries the super counts; the kernel updates it only on FUA and MARK, so more may follow. */
  readonly nrEntries: number;
  readonly sectorSize: number;
}

/** One entry header as stored. Flags above bit 31 are kept apart so bit tests stay exact. */
export interface EntryHeader {
  readonly sector: number;
  readonly nrSectors: number;
  readonly flags: number;
  readonly flagsHigh: number;
  readonly dataLen: number;
  /** MARK text, decoded from the header sector (undefined for other entries). */
  readonly mark?: string | undefined;
}

/** What is wrong, coarsely: replay-log maps these onto upstream's messages. */
export type ProblemKind = 'super' | 'malformed' | 'truncated-header' | 'truncated-payload';

const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

/** A u64 as a JS number, or NaN when it does not fit in 53 bits (no real log gets near). */
function u64(dv: DataView, at: number): number {
  const lo = dv.getUint32(at, true);
  const hi = dv.getUint32(at + 4, true);
  return hi < 0x200000 ? hi * 0x1_0000_0000 + lo : NaN;
}

export function isValidSectorSize(s: number): boolean {
  return s >= MIN_SECTORSIZE && s <= MAX_SECTORSIZE && (s & (s - 1)) === 0;
}

/** Decode and validate the super from the first bytes of a log (at least SUPER_BYTES). */
export function decodeSuper(bytes: Uint8Array): LogSuper {
  if (bytes.length < SUPER_BYTES) {
    throw new LogFormatError(0, `truncated super: log is ${bytes.length} bytes, super needs ${SUPER_BYTES}`);
  }
  const dv = view(bytes);
  const magic = dv.getBigUint64(SuperField.MAGIC, true);
  if (magic !== MAGIC) {
    throw new LogFormatError(
      0,
      `bad magic 0x${magic.toString(16)} (want 0x${MAGIC.toString(16)}): not a dm-log-writes log`,
    );
  }
  const version = dv.getBigUint64(SuperField.VERSION, true);
  if (version !== BigInt(VERSION))
    throw new LogFormatError(SuperField.VERSION, `unsupported version ${version} (want ${VERSION})`);
  const nrEntries = u64(dv, SuperField.NR_ENTRIES);
  if (Number.isNaN(nrEntries)) throw new LogFormatError(SuperField.NR_ENTRIES, 'nr_entries is absurd (over 2^53)');
  const sectorSize = dv.getUint32(SuperField.SECTORSIZE, true);
  if (!isValidSectorSize(sectorSize)) {
    throw new LogFormatError(
      SuperField.SECTORSIZE,
      `bad sectorsize ${sectorSize} (want a power of two from 512 to 16 MiB)`,
    );
  }
  return { version: VERSION, nrEntries, sectorSize };
}

export function encodeSuper(s: Pick<LogSuper, 'nrEntries' | 'sectorSize'>): Uint8Array {
  const out = new Uint8Array(s.sectorSize);
  const dv = view(out);
  dv.setBigUint64(SuperField.MAGIC, MAGIC, true);
  dv.setBigUint64(SuperField.VERSION, BigInt(VERSION), true);
  dv.setBigUint64(SuperField.NR_ENTRIES, BigInt(s.nrEntries), true);
  dv.setUint32(SuperField.SECTORSIZE, s.sectorSize, true);
  return out;
}

const utf8Decoder = new TextDecoder();
const utf8 = new TextEncoder();

/**
 * Decode one header sector. `at` is the header's byte offset in the log and `index` its entry
 * number, both for error messages only. Validation follows xfstests (flags 0 with nr_sectors 0,
 * a non-mark whose byte 32 is not zero) plus what the kernel guarantees cheaply: a mark text
 * that fits the sector with its terminator, and lengths that fit 2^53 bytes. `checkPadding`
 * also reads every padding byte (S bytes per entry: worth it when verifying, not when seeking).
 */
export function decodeHeader(
  sector: Uint8Array,
  sectorSize: number,
  at: number,
  index: number,
  checkPadding = false,
): EntryHeader {
  const dv = view(sector);
  const bad = (reason: string, where = at): never => {
    throw new LogFormatError(where, reason, index);
  };
  const flags = dv.getUint32(HeaderField.FLAGS, true);
  const flagsHigh = dv.getUint32(HeaderField.FLAGS + 4, true);
  const nrLo = dv.getUint32(HeaderField.NR_SECTORS, true);
  const nrHi = dv.getUint32(HeaderField.NR_SECTORS + 4, true);
  if (flags === 0 && flagsHigh === 0 && nrLo === 0 && nrHi === 0)
    bad('malformed entry: flags 0 and nr_sectors 0 (zeroed or unwritten sector)');
  const isMark = flags === Flag.MARK && flagsHigh === 0;
  if (!isMark && sector[HEADER_BYTES] !== 0) bad('malformed entry: header not zero padded');
  const sectorNo = u64(dv, HeaderField.SECTOR);
  const nrSectors = u64(dv, HeaderField.NR_SECTORS);
  const dataLen = u64(dv, HeaderField.DATA_LEN);
  if (Number.isNaN(sectorNo) || Number.isNaN(nrSectors) || !Number.isSafeInteger(nrSectors * sectorSize)) {
    bad(
      `absurd sector ${dv.getBigUint64(HeaderField.SECTOR, true)} or nr_sectors ${dv.getBigUint64(HeaderField.NR_SECTORS, true)}`,
    );
  }
  if (!Number.isSafeInteger((sectorNo + nrSectors) * sectorSize)) bad('write extends past 2^53 bytes');
  let mark: string | undefined;
  if (flags & Flag.MARK) {
    const room = sectorSize - HEADER_BYTES - 1;
    if (!(dataLen <= room))
      bad(
        `mark length ${dv.getBigUint64(HeaderField.DATA_LEN, true)} leaves no terminator in a ${sectorSize}-byte sector`,
      );
    const text = sector.subarray(HEADER_BYTES, HEADER_BYTES + dataLen);
    const nul = text.indexOf(0);
    mark = utf8Decoder.decode(nul >= 0 ? text.subarray(0, nul) : text);
  }
  if (checkPadding) {
    const from = flags & Flag.MARK ? HEADER_BYTES + Math.min(dataLen, sectorSize) : HEADER_BYTES;
    for (let i = from; i < sectorSize; i++) if (sector[i] !== 0) bad(`non-zero padding at header byte ${i}`, at + i);
  }
  return { sector: sectorNo, nrSectors, flags, flagsHigh, dataLen, ...(mark === undefined ? {} : { mark }) };
}

export interface HeaderFields {
  sector: number;
  nrSectors: number;
  flags: number;
  mark?: string;
}

/** Encode one header sector. A mark's text is cut to fit, as the kernel does. */
export function encodeHeader(h: HeaderFields, sectorSize: number): Uint8Array {
  const out = new Uint8Array(sectorSize);
  const dv = view(out);
  dv.setBigUint64(HeaderField.SECTOR, BigInt(h.sector), true);
  dv.setBigUint64(HeaderField.NR_SECTORS, BigInt(h.nrSectors), true);
  dv.setBigUint64(HeaderField.FLAGS, BigInt(h.flags), true);
  if (h.mark !== undefined) {
    const text = utf8.encode(h.mark).subarray(0, sectorSize - HEADER_BYTES - 1);
    dv.setBigUint64(HeaderField.DATA_LEN, BigInt(text.length), true);
    out.set(text, HEADER_BYTES);
  }
  return out;
}

/** Bytes of payload that follow an entry's header sector. */
export function payloadBytes(h: Pick<EntryHeader, 'flags' | 'nrSectors'>, sectorSize: number): number {
  return h.flags & Flag.DISCARD ? 0 : h.nrSectors * sectorSize;
}

/** Flag names exactly as xfstests' replay-log prints them: `FLUSH|FUA`, `UNKNOWN.0x40`, `NONE`. */
export function flagNames(flags: number, flagsHigh = 0): string {
  const names: string[] = FLAG_ORDER.filter((n) => flags & Flag[n]);
  const unknown = (BigInt(flagsHigh) << 32n) | BigInt((flags & ~KNOWN_FLAGS) >>> 0);
  if (unknown) names.push(`UNKNOWN.0x${unknown.toString(16)}`);
  return names.length ? names.join('|') : 'NONE';
}

/** The full 64-bit flags as hex, as `0x%llx` prints them. */
export function flagsHex(flags: number, flagsHigh = 0): string {
  return ((BigInt(flagsHigh) << 32n) | BigInt(flags >>> 0)).toString(16);
}

/** Parse a comma- or pipe-separated list of flag names into a bit mask. */
export function parseFlags(list: string): number {
  let mask = 0;
  for (const raw of list.split(/[,|]/)) {
    const name = raw.trim().toUpperCase();
    if (!name) continue;
    if (!(name in Flag)) throw new BadArgument(`unknown flag '${raw}' (known: ${FLAG_ORDER.join(', ')})`);
    mask |= Flag[name as FlagName];
  }
  return mask;
}
