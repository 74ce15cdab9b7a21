// A timeline scene (scene.ts) as a standalone SVG document: the density layer as an embedded
// PNG (one image instead of a rectangle per cell, which ran to megabytes on a 1 GiB log),
// everything else as vector shapes, so labels stay sharp in reports and bug trackers.

import type { Density } from './density.ts';
import type { Palette, Scene, Shape } from './scene.ts';

/** Encodes the density pixels (RGBA) as a PNG file; the platform provides the compressor. */
export type PngEncoder = (d: Density) => Uint8Array;

/** Width of text in a sans-serif face, without a font at hand: generous, so labels placed by it never overlap. */
export const approximateWidth = (text: string, size: number): number => text.length * size * 0.6;

const escape = (t: string) =>
  t.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
const n = (v: number) => String(Math.round(v * 100) / 100);

function base64(bytes: Uint8Array): string {
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

function shape(sh: Shape, p: Palette, scene: Scene, png: PngEncoder): string {
  switch (sh.kind) {
    case 'rect':
      return `<rect x="${n(sh.x)}" y="${n(sh.y)}" width="${n(sh.w)}" height="${n(sh.h)}" fill="${p[sh.role]}"${sh.opacity < 1 ? ` fill-opacity="${sh.opacity}"` : ''}/>`;
    case 'line':
      return `<line x1="${n(sh.x1)}" y1="${n(sh.y1)}" x2="${n(sh.x2)}" y2="${n(sh.y2)}" stroke="${p[sh.role]}" stroke-width="${n(sh.width)}"${sh.dash ? ` stroke-dasharray="${sh.dash.map(n).join(' ')}"` : ''}/>`;
    case 'text': {
      const anchor = { left: 'start', right: 'end', center: 'middle' }[sh.align];
      const width = approximateWidth(sh.text, sh.size);
      const left = sh.align === 'left' ? sh.x : sh.align === 'right' ? sh.x - width : sh.x - width / 2;
      const bg = sh.bg
        ? `<rect x="${n(left - 2)}" y="${n(sh.y - 1)}" width="${n(width + 4)}" height="${n(sh.size + 3)}" fill="${p[sh.bg]}"/>`
        : '';
      return `${bg}<text x="${n(sh.x)}" y="${n(sh.y + sh.size * 0.85)}" font-size="${n(sh.size)}" text-anchor="${anchor}" fill="${p[sh.role]}">${escape(sh.text)}</text>`;
    }
    case 'density': {
      const { plot, density } = scene;
      if (!density.max) return '';
      return `<image x="${plot.left}" y="${plot.top}" width="${plot.width}" height="${plot.height}" style="image-rendering: pixelated" href="data:image/png;base64,${base64(png(density))}"/>`;
    }
  }
}

/** The scene as SVG text; `title` becomes the document's title and a caption line, `notes` follow it. */
export function sceneToSvg(scene: Scene, palette: Palette, png: PngEncoder, title: string, captionSize = 12): string {
  const lines = [title, ...scene.notes];
  const foot = Math.ceil(lines.length * captionSize * 1.4 + captionSize * 0.6);
  const height = scene.height + foot;
  const caption = lines.map(
    (t, k) =>
      `<text x="4" y="${n(scene.height + (k + 1) * captionSize * 1.4)}" font-size="${captionSize}" fill="${k ? palette.muted : palette.ink}">${escape(t)}</text>`,
  );
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${scene.width}" height="${height}" viewBox="0 0 ${scene.width} ${height}" font-family="system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', sans-serif">`,
    `<title>${escape(title)}</title>`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    ...scene.shapes.map((sh) => shape(sh, palette, scene, png)).filter(Boolean),
    ...caption,
    '</svg>',
    '',
  ].join('\n');
}
