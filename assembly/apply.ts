// Apply a batch of writes and discards to an image that lives in linear memory, in order.
// Each op is 16 bytes: u32 kind (0 write, 1 zero), u32 image offset, u32 source, u32 length.

export const OP_BYTES = 16;

export function apply(image: usize, ops: usize, n: u32): void {
  const end = ops + <usize>n * OP_BYTES;
  for (let op = ops; op < end; op += OP_BYTES) {
    const dst = image + <usize>load<u32>(op, 4);
    const len = <usize>load<u32>(op, 12);
    if (load<u32>(op) == 0) memory.copy(dst, <usize>load<u32>(op, 8), len);
    else memory.fill(dst, 0, len);
  }
}
