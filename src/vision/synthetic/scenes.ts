/**
 * Seeded synthetic detection/segmentation scenes: filled and outlined shapes and MNIST digits at
 * a range of scales, overlapping (occlusion), over a gradient background with clutter (thin
 * lines, dots) and pixel noise. Every object is drawn without anti-aliasing, so its instance mask
 * (visible pixels after occlusion), its box (tight around the visible pixels) and the semantic
 * mask are exact. Objects are placed only where every object stays sufficiently visible, so no
 * unlabelled object remains in the picture.
 *
 * `writeSceneDataset` stores a split in COCO format: images/*.png, masks/*.png (semantic: class
 * index + 1, 0 = background) and annotations.json with RLE instance masks.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Generator, mnist, type Split } from '../../index.js';
import type { CocoAnnotation, CocoDataset } from '../formats/coco-types.js';
import { writeCoco } from '../formats/coco.js';
import { encodeRle } from '../masks/rle.js';

export const SCENE_CLASSES = ['circle', 'square', 'triangle', 'ring', 'frame', 'digit'] as const;
export type SceneClass = (typeof SCENE_CLASSES)[number];

export interface SceneOptions {
  width?: number;
  height?: number;
  /** Objects per scene: a uniform count in [min, max] (fewer if no valid placement is found). */
  minObjects?: number;
  maxObjects?: number;
  /** Object size (longer side, pixels): log-uniform in [min, max]. */
  minSize?: number;
  maxSize?: number;
  /** The classes to draw (default all); labels index this list. */
  classes?: readonly SceneClass[];
  /** An object must keep at least this fraction of its pixels visible (default 0.6). */
  minVisible?: number;
  /** Clutter lines and dots under the objects (default 4). */
  clutter?: number;
  /** Standard deviation of Gaussian pixel noise, in 0-255 units (default 6). */
  noise?: number;
  /** MNIST digits to draw for the 'digit' class ([N, 28, 28] values 0-255; default: loaded by `loadSceneDigits`). */
  digits?: Float32Array;
}

export interface SceneObject {
  label: number;
  className: SceneClass;
  /** Tight box around the visible pixels, xyxy in pixel-edge coordinates. */
  box: [number, number, number, number];
  /** Visible pixels, row-major H×W 0/1. */
  mask: Uint8Array;
  area: number;
}

export interface Scene {
  width: number;
  height: number;
  /** RGB bytes, row-major H×W×3. */
  image: Uint8Array;
  objects: SceneObject[];
  /** Class index + 1 per pixel, 0 = background. */
  semantic: Uint8Array;
}

const digitCache = new Map<Split, Promise<Float32Array>>();
/** MNIST digits (train or test split) for the 'digit' class, loaded once per process. */
export function loadSceneDigits(split: Split = 'test'): Promise<Float32Array> {
  let p = digitCache.get(split);
  if (!p) digitCache.set(split, (p = mnist.load(split).then(([images]) => images.data as Float32Array)));
  return p;
}

type Inside = (x: number, y: number) => boolean;

/** Generates scenes from a seed; the same seed and options give the same scenes. */
export class SceneGenerator {
  readonly options: Required<Omit<SceneOptions, 'digits'>> & { digits?: Float32Array };
  private readonly rng: Generator;

  constructor(options: SceneOptions = {}, seed = 0) {
    const o = {
      width: 128,
      height: 128,
      minObjects: 1,
      maxObjects: 5,
      minSize: 14,
      maxSize: 56,
      classes: SCENE_CLASSES,
      minVisible: 0.6,
      clutter: 4,
      noise: 6,
      ...options,
    };
    if (!(o.width > 0 && o.height > 0 && Number.isInteger(o.width) && Number.isInteger(o.height))) {
      throw new Error(`SceneGenerator: width and height must be positive integers, got ${o.width}x${o.height}`);
    }
    if (!(o.minSize >= 4 && o.maxSize >= o.minSize && o.maxSize <= Math.min(o.width, o.height))) {
      throw new Error(
        `SceneGenerator: need 4 <= minSize <= maxSize <= min(width, height), got sizes ${o.minSize}..${o.maxSize} for ${o.width}x${o.height}`,
      );
    }
    if (!(o.minObjects >= 0 && o.maxObjects >= o.minObjects))
      throw new Error(`SceneGenerator: need 0 <= minObjects <= maxObjects, got ${o.minObjects}..${o.maxObjects}`);
    for (const c of o.classes)
      if (!SCENE_CLASSES.includes(c))
        throw new Error(`SceneGenerator: unknown class '${c}' (known: ${SCENE_CLASSES.join(', ')})`);
    if (o.classes.includes('digit') && !o.digits) {
      throw new Error(
        "SceneGenerator: the 'digit' class needs MNIST digits: pass { digits: await loadSceneDigits() }, or leave 'digit' out of classes",
      );
    }
    this.options = o;
    this.rng = new Generator(seed);
  }

  next(): Scene {
    const { width: W, height: H } = this.options;
    const g = this.rng;
    const background = this.sampleBackground();
    // Objects, front to back order = drawing order; ids in `owner` (0 = background).
    const owner = new Int32Array(W * H);
    const full: number[] = [0];
    const visible: number[] = [0];
    const placed: SceneObjectSpec[] = [];
    const want = g.int(this.options.minObjects, this.options.maxObjects + 1);
    for (let attempt = 0; placed.length < want && attempt < want * 20; attempt++) {
      const label = g.int(0, this.options.classes.length);
      const shape = this.sampleShape(this.options.classes[label]);
      const pixels = shapePixels(shape, W, H, this.options.digits);
      if (pixels.length < 12) continue;
      // Reject placements that would hide too much of an earlier object.
      const lost = new Map<number, number>();
      for (const p of pixels) if (owner[p]) lost.set(owner[p], (lost.get(owner[p]) ?? 0) + 1);
      if ([...lost].some(([id, n]) => visible[id] - n < this.options.minVisible * full[id])) continue;
      const id = placed.length + 1;
      for (const [other, n] of lost) visible[other] -= n;
      for (const p of pixels) owner[p] = id;
      full.push(pixels.length);
      visible.push(pixels.length);
      placed.push({ label, shape, color: this.sampleColor() });
    }
    return this.render(background, placed).scene;
  }

  /** A random background: a two-colour gradient in a random direction, with clutter lines and dots. */
  sampleBackground(): SceneBackground {
    const { width: W, height: H, clutter } = this.options;
    const g = this.rng;
    const c0 = [0, 1, 2].map(() => 20 + g.random() * 80),
      c1 = [0, 1, 2].map(() => 20 + g.random() * 80);
    const angle = g.random() * 2 * Math.PI;
    const items: SceneBackground['clutter'] = [];
    for (let k = 0; k < clutter; k++) {
      const color = [0, 1, 2].map(() => 60 + g.random() * 140);
      if (g.random() < 0.5)
        items.push({ kind: 'line', color, at: [g.random() * W, g.random() * H, g.random() * W, g.random() * H] });
      else items.push({ kind: 'dot', color, at: [g.random() * W, g.random() * H, 1 + g.random()] });
    }
    return { c0, c1, angle, clutter: items };
  }

  /** A random object: class, shape and colour (for callers that place objects themselves). */
  sampleObject(): SceneObjectSpec {
    const label = this.rng.int(0, this.options.classes.length);
    const shape = this.sampleShape(this.options.classes[label]);
    return { label, shape, color: this.sampleColor() };
  }

  /** A bright colour with one strong channel, so objects stand out from the darker background. */
  sampleColor(): number[] {
    const g = this.rng;
    const color = [0, 1, 2].map(() => 90 + g.random() * 165);
    color[g.int(0, 3)] = 210 + g.random() * 45;
    return color;
  }

  /**
   * Paints a background and objects (in order: later ones occlude earlier ones), adds this
   * generator's pixel noise, and reads the exact visible masks and boxes off the painted pixels.
   * `full[i]` is object i's pixel count before occlusion (its visible fraction is area / full).
   */
  render(background: SceneBackground, objects: readonly SceneObjectSpec[]): { scene: Scene; full: number[] } {
    const { width: W, height: H, noise } = this.options;
    const g = this.rng;
    const image = paintBackground(background, W, H);
    const owner = new Int32Array(W * H);
    const full = objects.map((o, i) => {
      const pixels = shapePixels(o.shape, W, H, this.options.digits);
      for (const p of pixels) owner[p] = i + 1;
      return pixels.length;
    });
    const out: SceneObject[] = objects.map((o) => ({
      label: o.label,
      className: this.options.classes[o.label],
      box: [W, H, 0, 0],
      mask: new Uint8Array(W * H),
      area: 0,
    }));
    const semantic = new Uint8Array(W * H);
    for (let p = 0; p < W * H; p++) {
      const id = owner[p];
      if (id) {
        const o = out[id - 1],
          x = p % W,
          y = (p - x) / W;
        o.mask[p] = 1;
        o.area++;
        o.box = [Math.min(o.box[0], x), Math.min(o.box[1], y), Math.max(o.box[2], x + 1), Math.max(o.box[3], y + 1)];
        semantic[p] = o.label + 1;
        for (let c = 0; c < 3; c++) image[p * 3 + c] = objects[id - 1].color[c];
      }
    }
    const pixels = new Uint8Array(W * H * 3);
    for (let i = 0; i < pixels.length; i++)
      pixels[i] = Math.max(0, Math.min(255, Math.round(image[i] + (noise ? g.normal() * noise : 0))));
    return { scene: { width: W, height: H, image: pixels, objects: out, semantic }, full };
  }

  /**
   * A random instance of a class: its size (log-uniform in [minSize, maxSize]), aspect and centre
   * (at least half of its width and height inside the image); digits also pick an MNIST image.
   */
  sampleShape(cls: SceneClass): ShapeSpec {
    const g = this.rng;
    const { width: W, height: H, minSize, maxSize } = this.options;
    const size = Math.exp(Math.log(minSize) + g.random() * (Math.log(maxSize) - Math.log(minSize)));
    const aspect = cls === 'digit' ? 1 : 0.7 + g.random() * 0.6;
    const w = aspect >= 1 ? size : size * aspect,
      h = aspect >= 1 ? size / aspect : size;
    const cx = w / 4 + g.random() * (W - w / 2),
      cy = h / 4 + g.random() * (H - h / 2);
    const spec: ShapeSpec = { className: cls, cx, cy, w, h };
    if (cls === 'digit') spec.digit = g.int(0, this.options.digits!.length / 784);
    return spec;
  }
}

/** One object to paint: its class index (into the generator's classes), shape and RGB colour (0-255). */
export interface SceneObjectSpec {
  label: number;
  shape: ShapeSpec;
  color: number[];
}

/** An object's geometry: class, centre and size in pixels (and the MNIST image of a digit). */
export interface ShapeSpec {
  className: SceneClass;
  cx: number;
  cy: number;
  w: number;
  h: number;
  /** Index of the MNIST digit drawn (digits only). */
  digit?: number;
}

/** A scene's background: gradient colours and direction, and clutter lines [x0, y0, x1, y1] and dots [cx, cy, r]. */
export interface SceneBackground {
  c0: number[];
  c1: number[];
  angle: number;
  clutter: { kind: 'line' | 'dot'; color: number[]; at: number[] }[];
}

function paintBackground(bg: SceneBackground, W: number, H: number): Float32Array {
  const image = new Float32Array(W * H * 3);
  const { c0, c1 } = bg,
    dx = Math.cos(bg.angle),
    dy = Math.sin(bg.angle);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const t = Math.min(1, Math.max(0, 0.5 + ((x / W - 0.5) * dx + (y / H - 0.5) * dy)));
      for (let c = 0; c < 3; c++) image[(y * W + x) * 3 + c] = c0[c] + (c1[c] - c0[c]) * t;
    }
  }
  // Clutter under the objects: thin lines and small dots, too small or thin to be an object.
  for (const { kind, color, at } of bg.clutter) {
    if (kind === 'line') {
      const [x0, y0, x1, y1] = at;
      const steps = Math.ceil(Math.hypot(x1 - x0, y1 - y0)) + 1;
      for (let s = 0; s <= steps; s++)
        paint(image, W, H, Math.floor(x0 + ((x1 - x0) * s) / steps), Math.floor(y0 + ((y1 - y0) * s) / steps), color);
    } else {
      const [cx, cy, r] = at;
      for (let y = Math.floor(cy - r); y <= cy + r; y++)
        for (let x = Math.floor(cx - r); x <= cx + r; x++)
          if ((x + 0.5 - cx) ** 2 + (y + 0.5 - cy) ** 2 <= r * r) paint(image, W, H, x, y, color);
    }
  }
  return image;
}

/** The pixels (row-major indices) whose centres are inside a shape, clipped to the image. */
function shapePixels(s: ShapeSpec, W: number, H: number, digits?: Float32Array): number[] {
  const { cx, cy, w, h } = s;
  const [x0, y0, x1, y1] = [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2];
  const thick = Math.max(2, 0.18 * Math.min(w, h));
  const ex = (x: number, y: number, rx: number, ry: number) => ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1;
  let inside: Inside;
  switch (s.className) {
    case 'circle':
      inside = (x, y) => ex(x, y, w / 2, h / 2);
      break;
    case 'ring':
      inside = (x, y) => ex(x, y, w / 2, h / 2) && !ex(x, y, w / 2 - thick, h / 2 - thick);
      break;
    case 'square':
      inside = (x, y) => x >= x0 && x < x1 && y >= y0 && y < y1;
      break;
    case 'frame':
      inside = (x, y) =>
        x >= x0 &&
        x < x1 &&
        y >= y0 &&
        y < y1 &&
        !(x >= x0 + thick && x < x1 - thick && y >= y0 + thick && y < y1 - thick);
      break;
    case 'triangle':
      // Apex at the top centre, base along the bottom edge.
      inside = (x, y) => y >= y0 && y < y1 && Math.abs(x - cx) <= ((y - y0) / h) * (w / 2);
      break;
    case 'digit': {
      if (!digits || s.digit === undefined)
        throw new Error('SceneGenerator: a digit shape needs MNIST digits and a digit index');
      const k = s.digit;
      inside = (x, y) => {
        const u = Math.floor(((x - x0) / w) * 28),
          v = Math.floor(((y - y0) / h) * 28);
        return u >= 0 && u < 28 && v >= 0 && v < 28 && digits[k * 784 + v * 28 + u] > 127;
      };
      break;
    }
  }
  const pixels: number[] = [];
  for (let y = Math.max(0, Math.floor(y0)); y < Math.min(H, Math.ceil(y1)); y++)
    for (let x = Math.max(0, Math.floor(x0)); x < Math.min(W, Math.ceil(x1)); x++)
      if (inside(x + 0.5, y + 0.5)) pixels.push(y * W + x);
  return pixels;
}

function paint(image: Float32Array, W: number, H: number, x: number, y: number, col: number[]): void {
  if (x < 0 || y < 0 || x >= W || y >= H) return;
  for (let c = 0; c < 3; c++) image[(y * W + x) * 3 + c] = col[c];
}

export interface SceneDatasetOptions extends SceneOptions {
  count: number;
  seed?: number;
  /** MNIST split the digits come from (default 'test'); use different splits for train and held-out scenes. */
  digitSplit?: Split;
}

/**
 * Generates `count` scenes into `dir` (images/, masks/, annotations.json in COCO format with RLE
 * instance masks) and returns the COCO data set.
 */
export async function writeSceneDataset(dir: string, options: SceneDatasetOptions): Promise<CocoDataset> {
  const sharp = (await import('sharp')).default;
  const classes = options.classes ?? SCENE_CLASSES;
  const digits =
    options.digits ?? (classes.includes('digit') ? await loadSceneDigits(options.digitSplit ?? 'test') : undefined);
  const gen = new SceneGenerator({ ...options, digits }, options.seed ?? 0);
  await mkdir(join(dir, 'images'), { recursive: true });
  await mkdir(join(dir, 'masks'), { recursive: true });
  const data: CocoDataset = {
    info: { description: 'Lepton synthetic scenes', seed: options.seed ?? 0 },
    images: [],
    annotations: [],
    categories: classes.map((name, i) => ({ id: i + 1, name, supercategory: name === 'digit' ? 'digit' : 'shape' })),
  };
  for (let i = 0; i < options.count; i++) {
    const s = gen.next();
    const name = `${String(i + 1).padStart(6, '0')}.png`;
    await sharp(Buffer.from(s.image), { raw: { width: s.width, height: s.height, channels: 3 } })
      .png()
      .toFile(join(dir, 'images', name));
    await sharp(Buffer.from(s.semantic), { raw: { width: s.width, height: s.height, channels: 1 } })
      .toColourspace('b-w')
      .png()
      .toFile(join(dir, 'masks', name));
    data.images.push({ id: i + 1, file_name: name, width: s.width, height: s.height });
    for (const o of s.objects) {
      const ann: CocoAnnotation = {
        id: data.annotations.length + 1,
        image_id: i + 1,
        category_id: o.label + 1,
        bbox: [o.box[0], o.box[1], o.box[2] - o.box[0], o.box[3] - o.box[1]],
        area: o.area,
        iscrowd: 0,
        segmentation: encodeRle(o.mask, s.height, s.width),
      };
      data.annotations.push(ann);
    }
  }
  await writeCoco(join(dir, 'annotations.json'), data, { imagesDir: join(dir, 'images') });
  return data;
}
