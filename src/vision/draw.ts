/**
 * Pictures of detections and masks: boxes with class/score labels and translucent instance masks
 * drawn over an image, written as PNG with sharp (masks are blended here; boxes and text are an
 * SVG overlay that sharp renders).
 */

export interface DrawItem {
  /** xyxy in pixels. */
  box?: readonly number[];
  /** Class index (picks the colour) or a name. */
  label?: number | string;
  score?: number;
  /** Row-major H×W 0/1 mask, same size as the image. */
  mask?: ArrayLike<number>;
  /** Track id: shown as "#id" before the label and picks the colour, so an object keeps its colour across frames. */
  id?: number;
}

export interface DrawOptions {
  classNames?: readonly string[];
  lineWidth?: number;
  /** Opacity of masks (default 0.45). */
  maskAlpha?: number;
  /** Scale the picture up by this integer factor (nearest neighbour) so small images stay readable. */
  scale?: number;
}

/** A palette of distinct, saturated colours (Tableau 10). */
export const PALETTE: readonly [number, number, number][] = [
  [31, 119, 180],
  [255, 127, 14],
  [44, 160, 44],
  [214, 39, 40],
  [148, 103, 189],
  [140, 86, 75],
  [227, 119, 194],
  [127, 127, 127],
  [188, 189, 34],
  [23, 190, 207],
];

function colorOf(label: number | string | undefined, index: number): [number, number, number] {
  if (typeof label === 'number') return PALETTE[((label % PALETTE.length) + PALETTE.length) % PALETTE.length];
  let h = index;
  if (typeof label === 'string') for (const ch of label) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return PALETTE[h % PALETTE.length];
}

const escapeXml = (s: string) => s.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * Draws items on an RGB image (row-major H×W×3 bytes) and returns PNG bytes.
 * Items are drawn in order; masks first, then boxes and labels on top.
 */
export async function drawDetections(
  image: { data: Uint8Array; width: number; height: number },
  items: readonly DrawItem[],
  options: DrawOptions = {},
): Promise<Buffer> {
  return (await drawing(image, items, options)).png().toBuffer();
}

/** As `drawDetections`, but returns the picture as RGB bytes (row-major, width and height × scale), e.g. a video frame. */
export async function renderDetections(
  image: { data: Uint8Array; width: number; height: number },
  items: readonly DrawItem[],
  options: DrawOptions = {},
): Promise<{ data: Uint8Array; width: number; height: number }> {
  const { data, info } = await (await drawing(image, items, options))
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
}

async function drawing(
  image: { data: Uint8Array; width: number; height: number },
  items: readonly DrawItem[],
  options: DrawOptions,
) {
  const { width: W, height: H } = image;
  if (image.data.length !== W * H * 3)
    throw new Error(`drawDetections: expected ${W}x${H}x3 RGB bytes (${W * H * 3}), got ${image.data.length}`);
  const alpha = options.maskAlpha ?? 0.45;
  const scale = Math.max(1, Math.round(options.scale ?? 1));
  const rgb = Uint8Array.from(image.data);
  items.forEach((it, i) => {
    if (!it.mask) return;
    if (it.mask.length !== W * H)
      throw new Error(`drawDetections: item ${i}'s mask has ${it.mask.length} values; the image is ${W}x${H}`);
    const col = it.id === undefined ? colorOf(it.label, i) : colorOf(it.id, i);
    for (let p = 0; p < W * H; p++)
      if (it.mask[p])
        for (let c = 0; c < 3; c++) rgb[p * 3 + c] = Math.round(rgb[p * 3 + c] * (1 - alpha) + col[c] * alpha);
  });
  const sharp = (await import('sharp')).default;
  let base = sharp(Buffer.from(rgb), { raw: { width: W, height: H, channels: 3 } });
  if (scale > 1)
    base = sharp(
      await base
        .resize(W * scale, H * scale, { kernel: 'nearest' })
        .raw()
        .toBuffer(),
      { raw: { width: W * scale, height: H * scale, channels: 3 } },
    );
  const lw = options.lineWidth ?? 2;
  const font = 11;
  const parts: string[] = [];
  items.forEach((it, i) => {
    if (!it.box) return;
    const [x1, y1, x2, y2] = it.box.map((v) => v * scale);
    const [r, g, b] = it.id === undefined ? colorOf(it.label, i) : colorOf(it.id, i);
    const stroke = `rgb(${r},${g},${b})`;
    parts.push(
      `<rect x="${x1 + lw / 2}" y="${y1 + lw / 2}" width="${Math.max(0, x2 - x1 - lw)}" height="${Math.max(0, y2 - y1 - lw)}" fill="none" stroke="${stroke}" stroke-width="${lw}"/>`,
    );
    const name = typeof it.label === 'number' ? (options.classNames?.[it.label] ?? String(it.label)) : it.label;
    const text = [
      it.id === undefined ? undefined : `#${it.id}`,
      name,
      it.score === undefined ? undefined : it.score.toFixed(2),
    ]
      .filter((s) => s !== undefined)
      .join(' ');
    if (text) {
      const tw = text.length * font * 0.6 + 4;
      const ty = y1 >= font + 3 ? y1 - font - 3 : y1; // above the box, or inside it at the top edge
      const tx = Math.max(0, Math.min(x1, W * scale - tw)); // keep the label inside the picture
      parts.push(`<rect x="${tx}" y="${ty}" width="${tw}" height="${font + 3}" fill="${stroke}"/>`);
      parts.push(
        `<text x="${tx + 2}" y="${ty + font}" font-family="DejaVu Sans, sans-serif" font-size="${font}" fill="white">${escapeXml(text)}</text>`,
      );
    }
  });
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W * scale}" height="${H * scale}">${parts.join('')}</svg>`;
  return base.composite([{ input: Buffer.from(svg), top: 0, left: 0 }]);
}
