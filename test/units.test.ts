// How sizes are read and written (src/units.ts): one grammar for every command and the viewer.
import { expect, it } from 'vitest';
import { bytesText, hex32, hex64, parseSize, sectorsText } from '../src/units.ts';

it('parses every size a command or the viewer took, and nothing ambiguous', () => {
  const sizes: [string, number | undefined][] = [
    ['0', 0],
    ['4096', 4096],
    ['4096B', 4096],
    ['4K', 4096],
    ['4k', 4096],
    ['4KB', 4096],
    ['4KiB', 4096],
    ['4Ki', 4096],
    [' 64 M ', 64 << 20],
    ['64MiB', 64 << 20],
    ['1.5G', 1.5 * 2 ** 30],
    ['2T', 2 * 2 ** 40],
    ['0.5', undefined],
    ['1.3M', undefined],
    ['4iB', undefined],
    ['4x', undefined],
    ['-1', undefined],
    ['', undefined],
    ['M', undefined],
  ];
  expect(sizes.map(([t]) => [t, parseSize(t)])).toEqual(sizes);
});

it('writes sizes, sectors and fingerprints one way', () => {
  expect([bytesText(512), bytesText(67108864), bytesText(1536)]).toEqual([
    '512 bytes',
    '67108864 bytes = 64 MiB',
    '1536 bytes = 1.5 KiB',
  ]);
  expect([sectorsText(5, 1), sectorsText(5, 8)]).toEqual(['sector 5', 'sectors 5..12']);
  expect([hex64(0xabcn), hex32(-1), hex32(0x1f)]).toEqual(['0000000000000abc', 'ffffffff', '0000001f']);
});
