// The WebAssembly kernels (assembly/, built to dist/logwrites.wasm): instantiation and the
// host side of each kernel. Input is copied into a scratch area in linear memory in CHUNK-sized
// pieces, once per byte, and the pieces stay small enough to be hashed while still in cache.

import bytes from '../../dist/logwrites.wasm';
import { KernelError } from '../errors.ts';
import { apply as applyJs } from './apply.ts';
import { checkSectorData, checkSectorSize, type Fingerprint, type Kernels, type Xxh64Stream } from './types.ts';

interface Exports {
  readonly memory: WebAssembly.Memory;
  readonly XXH64_STATE_BYTES: WebAssembly.Global;
  scratch(size: number): number;
  alloc(size: number): number;
  crc32c(crc: number, p: number, len: number): number;
  xxh64(p: number, len: number, seed: bigint): bigint;
  xxh64Init(state: number, seed: bigint): void;
  xxh64Update(state: number, p: number, len: number): void;
  xxh64Digest(state: number): bigint;
  fpNew(sectorSize: number): number;
  fpFree(fp: number): void;
  fpClone(fp: number): number;
  fpValue(fp: number): bigint;
  fpWrite(fp: number, sector: number, p: number, len: number): void;
  fpZero(fp: number, sector: number, n: number): void;
}

export const CHUNK = 64 * 1024;

/** The binary this build ships, and whether this engine can run it (it needs SIMD). */
export function wasmSupported(): boolean {
  return typeof WebAssembly === 'object' && WebAssembly.validate(bytes);
}

export async function instantiateWasm(): Promise<WasmKernels> {
  const { instance } = await WebAssembly.instantiate(bytes, {
    env: {
      // Reached when linear memory cannot grow or an allocation exceeds TLSF's 1 GiB block.
      abort(message: number) {
        throw new KernelError(`logwrites.wasm: ${readString(instance.exports.memory as WebAssembly.Memory, message)}`);
      },
    },
  });
  return new WasmKernels(instance.exports as unknown as Exports);
}

/** An AssemblyScript string: UTF-16LE, its byte length in the 4 bytes before it. */
function readString(memory: WebAssembly.Memory, p: number): string {
  const n = new DataView(memory.buffer).getUint32(p - 4, true);
  return String.fromCharCode(...new Uint16Array(memory.buffer.slice(p, p + n)));
}

export class WasmKernels implements Kernels {
  readonly kind = 'wasm';
  private view: Uint8Array;
  private readonly stateBytes: number;
  /** Where a stream's state is loaded while it runs; streams keep theirs as plain bytes. */
  private readonly state: number;
  private readonly tables: FinalizationRegistry<number>;

  constructor(private readonly ex: Exports) {
    this.view = new Uint8Array(ex.memory.buffer);
    this.stateBytes = ex.XXH64_STATE_BYTES.value as number;
    this.state = ex.alloc(this.stateBytes);
    // Fingerprints explored and dropped without dispose() must not leak linear memory.
    this.tables = new FinalizationRegistry((fp) => ex.fpFree(fp));
  }

  /** The memory as bytes; growing memory detaches the old buffer, so re-view when it moved. */
  private mem(): Uint8Array {
    if (this.view.buffer !== this.ex.memory.buffer) this.view = new Uint8Array(this.ex.memory.buffer);
    return this.view;
  }

  /** Copy data[from, from + n) into scratch, which has room for `room` bytes; returns its address. */
  private stage(data: Uint8Array, from: number, n: number, room = CHUNK): number {
    const p = this.ex.scratch(room);
    this.mem().set(data.subarray(from, from + n), p);
    return p;
  }

  crc32c(data: Uint8Array, crc = 0): number {
    for (let at = 0; at < data.length; at += CHUNK) {
      const n = Math.min(CHUNK, data.length - at);
      crc = this.ex.crc32c(crc, this.stage(data, at, n), n);
    }
    return crc >>> 0;
  }

  xxh64(data: Uint8Array, seed = 0n): bigint {
    if (data.length > CHUNK) return this.xxh64Stream(seed).update(data).digest();
    return BigInt.asUintN(64, this.ex.xxh64(this.stage(data, 0, data.length), data.length, seed));
  }

  xxh64Stream(seed = 0n): Xxh64Stream {
    this.ex.xxh64Init(this.state, seed);
    const saved = this.mem().slice(this.state, this.state + this.stateBytes);
    const load = () => this.mem().set(saved, this.state);
    const stream: Xxh64Stream = {
      update: (data) => {
        load();
        for (let at = 0; at < data.length; at += CHUNK) {
          const n = Math.min(CHUNK, data.length - at);
          this.ex.xxh64Update(this.state, this.stage(data, at, n), n);
        }
        saved.set(this.mem().subarray(this.state, this.state + this.stateBytes));
        return stream;
      },
      digest: () => {
        load();
        return BigInt.asUintN(64, this.ex.xxh64Digest(this.state));
      },
    };
    return stream;
  }

  fingerprint(sectorSize: number): Fingerprint {
    checkSectorSize(sectorSize);
    return this.track(this.ex.fpNew(sectorSize), sectorSize);
  }

  private track(fp: number, sectorSize: number): Fingerprint {
    const k = this;
    const ex = this.ex;
    const room = Math.max(sectorSize, CHUNK - (CHUNK % sectorSize));
    let live = true;
    const handle: Fingerprint = {
      write(sector, data) {
        checkSectorData(sectorSize, data);
        check();
        for (let at = 0; at < data.length; at += room) {
          const n = Math.min(room, data.length - at);
          ex.fpWrite(fp, sector + at / sectorSize, k.stage(data, at, n, room), n);
        }
      },
      zero(sector, nrSectors) {
        check();
        if (nrSectors > 0) ex.fpZero(fp, sector, nrSectors);
      },
      value() {
        check();
        return BigInt.asUintN(64, ex.fpValue(fp));
      },
      clone() {
        check();
        return k.track(ex.fpClone(fp), sectorSize);
      },
      dispose() {
        if (!live) return;
        live = false;
        k.tables.unregister(handle);
        ex.fpFree(fp);
      },
    };
    const check = () => {
      if (!live) throw new KernelError('fingerprint used after dispose()');
    };
    this.tables.register(handle, fp, handle);
    return handle;
  }

  // Measured by bench/apply: one native copy or fill per op ran 1.9x (4 KiB writes) and 1.4x
  // (512-byte writes) a wasm kernel that staged each batch into linear memory and applied it
  // in one call, so there is no wasm apply.
  apply = applyJs;
}
