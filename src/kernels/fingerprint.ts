// The state fingerprint in plain TypeScript: a Map from sector to its hash, and their sum.

import { checkSectorData, type Fingerprint } from './types.ts';
import { xxh64Stream } from './xxh64.ts';

const index = new Uint8Array(8);
const indexView = new DataView(index.buffer);

/** xxh64(u64le(sector) || content): the contribution of one sector. */
export function sectorHash(sector: number, content: Uint8Array): bigint {
  indexView.setBigUint64(0, BigInt(sector), true);
  return xxh64Stream().update(index).update(content).digest();
}

function isZero(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

export class MapFingerprint implements Fingerprint {
  private constructor(
    readonly sectorSize: number,
    private readonly hashes: Map<number, bigint>,
    private sum: bigint,
  ) {}

  static create(sectorSize: number): MapFingerprint {
    return new MapFingerprint(sectorSize, new Map(), 0n);
  }

  write(sector: number, data: Uint8Array): void {
    checkSectorData(this.sectorSize, data);
    const S = this.sectorSize;
    for (let at = 0; at < data.length; at += S, sector++) {
      const content = data.subarray(at, at + S);
      if (isZero(content)) this.forget(sector);
      else this.set(sector, sectorHash(sector, content));
    }
  }

  zero(sector: number, nrSectors: number): void {
    const end = sector + nrSectors;
    if (nrSectors <= this.hashes.size) {
      for (let s = sector; s < end; s++) this.forget(s);
    } else {
      for (const s of this.hashes.keys()) if (s >= sector && s < end) this.forget(s);
    }
  }

  value(): bigint {
    return this.sum;
  }

  clone(): Fingerprint {
    return new MapFingerprint(this.sectorSize, new Map(this.hashes), this.sum);
  }

  dispose(): void {
    this.hashes.clear();
    this.sum = 0n;
  }

  private set(sector: number, h: bigint): void {
    this.sum = BigInt.asUintN(64, this.sum - (this.hashes.get(sector) ?? 0n) + h);
    this.hashes.set(sector, h);
  }

  private forget(sector: number): void {
    const h = this.hashes.get(sector);
    if (h === undefined) return;
    this.sum = BigInt.asUintN(64, this.sum - h);
    this.hashes.delete(sector);
  }
}
