// The on-disk format (src/format.ts), checked against logs the kernel wrote: every header and
// super we decode re-encodes to the kernel's own bytes, and the field offsets are the kernel's.
import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  decodeHeader,
  decodeSuper,
  encodeHeader,
  encodeSuper,
  Flag,
  flagNames,
  flagsHex,
  hasUnknownFlags,
  HEADER_BYTES,
  HeaderField,
  isValidSectorSize,
  MAGIC,
  parseFlags,
  payloadBytes,
  SUPER_BYTES,
  SuperField,
} from '../src/format.ts';
import { BadArgument, LogFormatError } from '../src/errors.ts';
import { KERNEL_FIXTURES, kernelLog, manifest } from './support/fixtures.ts';
import { oracleRead } from './support/oracle.ts';

describe.each(KERNEL_FIXTURES)('%s', (name) => {
  const m = manifest(name);
  const log = fs.readFileSync(kernelLog(name));
  const S = m.sectorsize;

  it('decodes the super the kernel wrote, at the field offsets it used, and re-encodes it byte for byte', () => {
    const dv = new DataView(log.buffer, log.byteOffset, S);
    expect(dv.getBigUint64(SuperField.MAGIC, true)).toBe(MAGIC);
    expect(dv.getBigUint64(SuperField.VERSION, true)).toBe(1n);
    expect(Number(dv.getBigUint64(SuperField.NR_ENTRIES, true))).toBe(m.nr_entries);
    expect(dv.getUint32(SuperField.SECTORSIZE, true)).toBe(S);
    const sup = decodeSuper(log.subarray(0, SUPER_BYTES));
    expect(sup).toEqual({ version: 1, nrEntries: m.nr_entries, sectorSize: S });
    expect(Buffer.from(encodeSuper(sup)).equals(log.subarray(0, S))).toBe(true);
  });

  it('decodes every entry header as the independent reader does, and re-encodes it to the kernel bytes', () => {
    for (const o of oracleRead(kernelLog(name)).entries) {
      const sector = log.subarray(o.offset, o.offset + S);
      const h = decodeHeader(sector, S, o.offset, o.index, true);
      expect([h.sector, h.nrSectors, h.flags, h.flagsHigh, h.mark]).toEqual([
        o.sector,
        o.nrSectors,
        o.flags,
        0,
        o.mark,
      ]);
      expect(payloadBytes(h, S)).toBe(o.payload?.length ?? 0);
      expect(Number(new DataView(sector.buffer, sector.byteOffset, S).getBigUint64(HeaderField.FLAGS, true))).toBe(
        o.flags,
      );
      expect(Buffer.from(encodeHeader(h, S)).equals(sector), `entry ${o.index} re-encodes`).toBe(true);
    }
  });
});

describe('super', () => {
  const good = encodeSuper({ nrEntries: 3, sectorSize: 4096 });
  const broken = (at: number, value: bigint | number) => {
    const b = good.slice();
    const dv = new DataView(b.buffer);
    if (typeof value === 'bigint') dv.setBigUint64(at, value, true);
    else dv.setUint32(at, value, true);
    return b;
  };
  it('names the offset of the field that is wrong', () => {
    const offsetOf = (b: Uint8Array) => {
      try {
        decodeSuper(b);
      } catch (e) {
        expect(e).toBeInstanceOf(LogFormatError);
        return [(e as LogFormatError).offset, (e as LogFormatError).kind];
      }
      return undefined;
    };
    expect(offsetOf(broken(SuperField.MAGIC, 1n))).toEqual([SuperField.MAGIC, 'super']);
    expect(offsetOf(broken(SuperField.VERSION, 2n))).toEqual([SuperField.VERSION, 'super']);
    expect(offsetOf(broken(SuperField.NR_ENTRIES, 1n << 60n))).toEqual([SuperField.NR_ENTRIES, 'super']);
    expect(offsetOf(broken(SuperField.SECTORSIZE, 1000))).toEqual([SuperField.SECTORSIZE, 'super']);
    expect(offsetOf(good.subarray(0, SUPER_BYTES - 1))).toEqual([0, 'super']);
    expect(offsetOf(good)).toBeUndefined();
  });
  it('takes the sector sizes the kernel allows', () => {
    expect([256, 512, 1000, 4096, 16 << 20, 32 << 20].map(isValidSectorSize)).toEqual([
      false,
      true,
      false,
      true,
      true,
      false,
    ]);
  });
});

describe('headers', () => {
  const S = 512;
  it('refuses a zeroed sector, unpadded headers and marks without room for their terminator', () => {
    expect(() => decodeHeader(new Uint8Array(S), S, 1024, 1)).toThrow(
      /^entry 1 at byte 1024: malformed entry: flags 0 and nr_sectors 0/,
    );
    const unpadded = encodeHeader({ sector: 1, nrSectors: 1, flags: 0 }, S);
    unpadded[HEADER_BYTES] = 1;
    expect(() => decodeHeader(unpadded, S, 0, 0)).toThrow(/header not zero padded/);
    const mark = encodeHeader({ sector: 0, nrSectors: 0, flags: Flag.MARK, mark: 'x' }, S);
    new DataView(mark.buffer).setBigUint64(HeaderField.DATA_LEN, BigInt(S - HEADER_BYTES), true);
    expect(() => decodeHeader(mark, S, 0, 0)).toThrow(/leaves no terminator/);
    const late = encodeHeader({ sector: 1, nrSectors: 1, flags: 0 }, S);
    late[300] = 1;
    expect(decodeHeader(late, S, 0, 0).sector).toBe(1);
    expect(() => decodeHeader(late, S, 0, 0, true)).toThrow(/non-zero padding at header byte 300/);
  });
  it('cuts a mark to fit its sector, as the kernel does', () => {
    const h = decodeHeader(
      encodeHeader({ sector: 0, nrSectors: 0, flags: Flag.MARK, mark: 'm'.repeat(600) }, S),
      S,
      0,
      0,
    );
    expect(h.mark).toBe('m'.repeat(S - HEADER_BYTES - 1));
  });
});

describe('flags', () => {
  it('are named and printed as replay-log prints them', () => {
    expect(flagNames(Flag.FLUSH | Flag.FUA)).toBe('FLUSH|FUA');
    expect(flagNames(0)).toBe('NONE');
    expect(flagNames(Flag.METADATA | 0x40, 1 << 8)).toBe('METADATA|UNKNOWN.0x10000000040');
    expect(flagsHex(Flag.MARK, 1)).toBe('100000008');
    expect([hasUnknownFlags(31), hasUnknownFlags(32), hasUnknownFlags(0, 1)]).toEqual([false, true, true]);
  });
  it('parse from lists, and an unknown name is a BadArgument', () => {
    expect(parseFlags('fua, discard|MARK')).toBe(Flag.FUA | Flag.DISCARD | Flag.MARK);
    expect(() => parseFlags('FUA,BOGUS')).toThrow(BadArgument);
    expect(() => parseFlags('BOGUS')).toThrow(/^unknown flag 'BOGUS' \(known: FLUSH, FUA, DISCARD, MARK, METADATA\)$/);
  });
});
