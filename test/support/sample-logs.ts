// Small logs built byte by byte: a valid one that exercises every kind of entry, and a corpus
// of broken variants of it (the ways a log goes wrong on disk, and forged ones).
import { encodeHeader, encodeSuper, Flag, type HeaderFields } from '../../src/format.ts';

/** Device bytes the sample log's writes fit in. */
export const SAMPLE_DEVICE = 64 * 1024;

/** The sample's entries: writes, FUA, flush, marks, a discard, metadata, the end mark. */
export const SAMPLE_ENTRIES: readonly (HeaderFields & { fill?: number })[] = [
  { sector: 0, nrSectors: 2, flags: 0, fill: 0x11 },
  { sector: 8, nrSectors: 1, flags: Flag.FUA, fill: 0x22 },
  { sector: 0, nrSectors: 0, flags: Flag.FLUSH },
  { sector: 0, nrSectors: 0, flags: Flag.MARK, mark: 'one' },
  { sector: 0, nrSectors: 1, flags: Flag.DISCARD },
  { sector: 16, nrSectors: 4, flags: Flag.METADATA, fill: 0x33 },
  { sector: 0, nrSectors: 0, flags: Flag.MARK, mark: 'two' },
  { sector: 2, nrSectors: 2, flags: Flag.FLUSH | Flag.FUA, fill: 0x44 },
  { sector: 40, nrSectors: 8, flags: Flag.METADATA | Flag.FUA, fill: 0x55 },
  { sector: 0, nrSectors: 0, flags: Flag.MARK, mark: 'dm-log-writes-end' },
];

export interface SampleLog {
  bytes: Uint8Array;
  sectorSize: number;
  /** Byte offset of each entry's header. */
  offsets: number[];
}

/** The sample log at sectorsize `S`; sectors are in units of S, so the device must scale with it. */
export function sampleLog(S = 512, entries = SAMPLE_ENTRIES): SampleLog {
  const parts: Uint8Array[] = [encodeSuper({ nrEntries: entries.length, sectorSize: S })];
  const offsets: number[] = [];
  let at = S;
  for (const e of entries) {
    offsets.push(at);
    parts.push(encodeHeader(e, S));
    at += S;
    if (!(e.flags & Flag.DISCARD) && e.nrSectors) {
      const payload = new Uint8Array(e.nrSectors * S).fill(e.fill ?? 0);
      // Each sector says where it belongs, so misplaced writes show.
      for (let s = 0; s < e.nrSectors; s++) new DataView(payload.buffer).setUint32(s * S, e.sector + s, true);
      parts.push(payload);
      at += payload.length;
    }
  }
  const bytes = new Uint8Array(at);
  let o = 0;
  for (const p of parts) {
    bytes.set(p, o);
    o += p.length;
  }
  return { bytes, sectorSize: S, offsets };
}

export interface BadLog {
  name: string;
  bytes: Uint8Array;
  /** The entry the problem is in (undefined for the super). */
  entry?: number;
  /** What a replay or a search of the whole log runs into. */
  problem: 'super' | 'malformed' | 'truncated' | 'absurd' | 'past-target' | 'none';
}

const u64 = (b: Uint8Array, at: number, v: bigint) => new DataView(b.buffer, b.byteOffset).setBigUint64(at, v, true);
const u32 = (b: Uint8Array, at: number, v: number) => new DataView(b.buffer, b.byteOffset).setUint32(at, v, true);

/** The broken-log corpus, every variant of the 512-byte sample. */
export function badLogs(): BadLog[] {
  const base = sampleLog(512);
  const S = base.sectorSize;
  const at = (i: number) => base.offsets[i]!;
  const edit = (
    name: string,
    problem: BadLog['problem'],
    entry: number | undefined,
    change: (b: Uint8Array) => Uint8Array | void,
  ): BadLog => {
    const b = base.bytes.slice();
    return { name, problem, ...(entry === undefined ? {} : { entry }), bytes: change(b) ?? b };
  };
  return [
    edit('bad-magic', 'super', undefined, (b) => void (b[0] ^= 1)),
    edit('version-2', 'super', undefined, (b) => u64(b, 8, 2n)),
    edit('sectorsize-0', 'super', undefined, (b) => u32(b, 24, 0)),
    edit('sectorsize-3', 'super', undefined, (b) => u32(b, 24, 3)),
    edit('sectorsize-1g', 'super', undefined, (b) => u32(b, 24, 1 << 30)),
    edit('truncated-super', 'super', undefined, (b) => b.subarray(0, 20)),
    edit('truncated-header', 'truncated', 5, (b) => b.subarray(0, at(5) + 20)),
    edit('truncated-payload', 'truncated', 5, (b) => b.subarray(0, at(5) + S + 1000)),
    edit('nonzero-padding', 'malformed', 5, (b) => void (b[at(5) + 32] = 0xff)),
    edit('nr-entries-past-file', 'truncated', 10, (b) => u64(b, 16, 1000n)),
    edit('zeroed-header', 'malformed', 5, (b) => void b.fill(0, at(5), at(5) + 32)),
    edit('mark-fills-sector', 'absurd', 6, (b) => {
      b.fill(0x78, at(6) + 32, at(6) + S);
      u64(b, at(6) + 24, BigInt(S - 32));
    }),
    edit('huge-nr-sectors', 'absurd', 5, (b) => u64(b, at(5) + 8, 1n << 55n)),
    edit('huge-sector', 'absurd', 5, (b) => u64(b, at(5), (1n << 64n) - 2n)),
    edit('write-past-target', 'past-target', 8, (b) => u64(b, at(8), 1000n)),
  ];
}

/** Logs that are odd but valid to upstream: each must replay and search exactly as it does. */
export function oddLogs(): { name: string; bytes: Uint8Array }[] {
  const base = sampleLog(512);
  const at = (i: number) => base.offsets[i]!;
  const edit = (name: string, change: (b: Uint8Array) => Uint8Array | void) => {
    const b = base.bytes.slice();
    return { name, bytes: change(b) ?? b };
  };
  return [
    // Upstream looks at one padding byte only.
    edit('late-padding', (b) => void (b[at(5) + 100] = 0xff)),
    // strncmp(mark, text, data_len + 1): "one" with data_len 2 is found by "one" and "onex", not "on".
    edit('mark-short-datalen', (b) => u64(b, at(3) + 24, 2n)),
    edit('unknown-flags', (b) => u64(b, at(5) + 16, BigInt(Flag.METADATA | 0x40) | (1n << 40n))),
    edit('empty', (b) => b.subarray(0, 512).fill(0, 16, 24)),
    edit('super-sector-cut', (b) => b.subarray(0, 100)),
    // More entries than the super counts, as a live log has.
    edit('uncounted-tail', (b) => u64(b, 16, 6n)),
  ];
}
