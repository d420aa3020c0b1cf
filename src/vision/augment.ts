/**
 * Augmentations for detection and segmentation: every geometric transform moves the boxes, the
 * instance masks and the class map together with the pixels. They are all one operation — an
 * affine warp (`warpAffine`) — with different matrices: flips, random resized crops, random
 * affine (rotation, scale, shear, translation), letterboxing, and mosaic (four images warped into
 * the quadrants of one canvas). Colour jitter changes pixels only.
 *
 * Conventions: images are RGB bytes, row-major H×W×3; boxes xyxy in pixel-edge coordinates (a box
 * [0, 0, W, H] covers the whole image); a matrix [a, b, c, d, e, f] maps a source point (x, y) to
 * (a·x + b·y + c, d·x + e·y + f) in the output. Pixels are sampled at their centres, bilinearly for
 * the image and nearest for masks and class maps. With instance masks, a box becomes the tight box
 * of its warped mask (exact under rotation); without, the box of its four warped corners, clipped.
 * Objects left with too little of themselves inside the output are dropped.
 */

/** An image with what lies on it. */
export interface AnnotatedImage {
  width: number;
  height: number;
  /** RGB bytes, row-major H×W×3. */
  image: Uint8Array;
  /** Object boxes, xyxy in pixels, 4 numbers per object. */
  boxes: Float32Array;
  /** One class per object. */
  labels: Int32Array;
  /** Optional instance masks, one H×W 0/1 array per object. */
  masks?: Uint8Array[];
  /** Optional per-pixel class map (H×W), e.g. for semantic segmentation. */
  classMap?: Uint8Array;
}

/** [a, b, c, d, e, f]: (x, y) ↦ (a·x + b·y + c, d·x + e·y + f). */
export type Affine = readonly [number, number, number, number, number, number];

export interface WarpOptions {
  /** Grey level of pixels that come from outside the source image (default 114, as YOLO pads). */
  fill?: number;
  /** Drop an object whose box keeps less than this fraction of its warped area (default 0.25). */
  minVisibility?: number;
  /** Drop an object whose box is narrower or lower than this many pixels (default 2). */
  minSize?: number;
}

export interface RandomOptions {
  /** Source of uniform numbers in [0, 1) (default Math.random); pass a seeded generator's for reproducibility. */
  random?: () => number;
}

function invert(m: Affine): Affine {
  const [a, b, c, d, e, f] = m;
  const det = a * e - b * d;
  if (Math.abs(det) < 1e-12) throw new Error(`warpAffine: the matrix [${m.join(', ')}] is not invertible`);
  return [e / det, -b / det, (b * f - c * e) / det, -d / det, a / det, (c * d - a * f) / det];
}

/** m2 ∘ m1: first m1, then m2. */
export function composeAffine(m1: Affine, m2: Affine): Affine {
  const [a1, b1, c1, d1, e1, f1] = m1;
  const [a2, b2, c2, d2, e2, f2] = m2;
  return [
    a2 * a1 + b2 * d1,
    a2 * b1 + b2 * e1,
    a2 * c1 + b2 * f1 + c2,
    d2 * a1 + e2 * d1,
    d2 * b1 + e2 * e1,
    d2 * c1 + e2 * f1 + f2,
  ];
}

function checkAnnotated(who: string, a: AnnotatedImage): number {
  const { width: w, height: h } = a;
  if (!(Number.isInteger(w) && Number.isInteger(h) && w > 0 && h > 0))
    throw new Error(`${who}: width and height must be positive integers, got ${w}×${h}`);
  if (a.image.length !== w * h * 3)
    throw new Error(`${who}: expected ${w}×${h}×3 = ${w * h * 3} RGB bytes, got ${a.image.length}`);
  const n = a.labels.length;
  if (a.boxes.length !== n * 4) throw new Error(`${who}: ${n} labels but ${a.boxes.length / 4} boxes`);
  if (a.masks && (a.masks.length !== n || a.masks.some((m) => m.length !== w * h)))
    throw new Error(`${who}: expected ${n} instance masks of ${w}×${h} pixels`);
  if (a.classMap && a.classMap.length !== w * h)
    throw new Error(`${who}: the class map has ${a.classMap.length} pixels, expected ${w}×${h}`);
  return n;
}

/** A blank output of the given size, to warp one or more sources into. */
function canvas(width: number, height: number, fill: number, like: AnnotatedImage): AnnotatedImage {
  return {
    width,
    height,
    image: new Uint8Array(width * height * 3).fill(fill),
    boxes: new Float32Array(0),
    labels: new Int32Array(0),
    ...(like.masks ? { masks: [] } : {}),
    ...(like.classMap ? { classMap: new Uint8Array(width * height) } : {}),
  };
}

/**
 * Warps `src` by `m` into `dst` within the output rectangle [x0, x1) × [y0, y1) (default: all of
 * it), appending the objects that stay visible.
 */
function warpInto(
  dst: AnnotatedImage,
  src: AnnotatedImage,
  m: Affine,
  options: WarpOptions,
  rect: [number, number, number, number] = [0, 0, dst.width, dst.height],
): void {
  const n = checkAnnotated('warpAffine', src);
  const { width: W, height: H } = dst;
  const { width: w, height: h, image } = src;
  const [ia, ib, ic, id, ie, iff] = invert(m);
  const [x0, y0, x1, y1] = rect;
  const masks = src.masks?.map(() => new Uint8Array(W * H));
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      // The output pixel's centre in source coordinates, then in source pixel indices.
      const sx = ia * (x + 0.5) + ib * (y + 0.5) + ic - 0.5;
      const sy = id * (x + 0.5) + ie * (y + 0.5) + iff - 0.5;
      if (sx < -0.5 || sy < -0.5 || sx > w - 0.5 || sy > h - 0.5) continue;
      const o = y * W + x;
      const nx = Math.min(w - 1, Math.max(0, Math.round(sx)));
      const ny = Math.min(h - 1, Math.max(0, Math.round(sy)));
      if (dst.classMap && src.classMap) dst.classMap[o] = src.classMap[ny * w + nx];
      if (masks) for (let k = 0; k < n; k++) masks[k][o] = src.masks![k][ny * w + nx];
      const fx = Math.min(w - 1, Math.max(0, sx));
      const fy = Math.min(h - 1, Math.max(0, sy));
      const xa = Math.floor(fx),
        ya = Math.floor(fy);
      const xb = Math.min(xa + 1, w - 1),
        yb = Math.min(ya + 1, h - 1);
      const tx = fx - xa,
        ty = fy - ya;
      for (let ch = 0; ch < 3; ch++) {
        const top = image[(ya * w + xa) * 3 + ch] * (1 - tx) + image[(ya * w + xb) * 3 + ch] * tx;
        const bottom = image[(yb * w + xa) * 3 + ch] * (1 - tx) + image[(yb * w + xb) * 3 + ch] * tx;
        dst.image[o * 3 + ch] = Math.round(top * (1 - ty) + bottom * ty);
      }
    }
  }
  const minVisibility = options.minVisibility ?? 0.25;
  const minSize = options.minSize ?? 2;
  const boxes: number[] = [...dst.boxes];
  const labels: number[] = [...dst.labels];
  for (let k = 0; k < n; k++) {
    // The box of the four warped corners (its area is the object's whole warped extent).
    const [bx1, by1, bx2, by2] = src.boxes.subarray(k * 4, k * 4 + 4);
    const xs: number[] = [],
      ys: number[] = [];
    for (const [px, py] of [
      [bx1, by1],
      [bx2, by1],
      [bx1, by2],
      [bx2, by2],
    ]) {
      xs.push(m[0] * px + m[1] * py + m[2]);
      ys.push(m[3] * px + m[4] * py + m[5]);
    }
    const full = [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
    let box: number[];
    if (masks) {
      // The tight box of the warped mask's pixels.
      let mx1 = W,
        my1 = H,
        mx2 = -1,
        my2 = -1;
      const mk = masks[k];
      for (let y = y0; y < y1; y++)
        for (let x = x0; x < x1; x++)
          if (mk[y * W + x]) {
            if (x < mx1) mx1 = x;
            if (x > mx2) mx2 = x;
            if (y < my1) my1 = y;
            if (y > my2) my2 = y;
          }
      if (mx2 < 0) continue;
      box = [mx1, my1, mx2 + 1, my2 + 1];
    } else {
      box = [Math.max(full[0], x0), Math.max(full[1], y0), Math.min(full[2], x1), Math.min(full[3], y1)];
    }
    const bw = box[2] - box[0],
      bh = box[3] - box[1];
    const fullArea = (full[2] - full[0]) * (full[3] - full[1]);
    if (bw < minSize || bh < minSize) continue;
    if (!masks && fullArea > 0 && (bw * bh) / fullArea < minVisibility) continue;
    boxes.push(...box);
    labels.push(src.labels[k]);
    if (masks) dst.masks!.push(masks[k]);
  }
  dst.boxes = Float32Array.from(boxes);
  dst.labels = Int32Array.from(labels);
}

/** `a` warped by the affine matrix `m` into a width×height output (default: the same size). */
export function warpAffine(
  a: AnnotatedImage,
  m: Affine,
  size: [number, number] = [a.width, a.height],
  options: WarpOptions = {},
): AnnotatedImage {
  const out = canvas(size[0], size[1], options.fill ?? 114, a);
  warpInto(out, a, m, options);
  return out;
}

/** Mirrored left–right (`horizontal`, default) or top–bottom. */
export function flipAnnotated(a: AnnotatedImage, axis: 'horizontal' | 'vertical' = 'horizontal'): AnnotatedImage {
  const m: Affine = axis === 'horizontal' ? [-1, 0, a.width, 0, 1, 0] : [1, 0, 0, 0, -1, a.height];
  return warpAffine(a, m, [a.width, a.height], { minVisibility: 0, minSize: 0 });
}

/** How a letterboxed image maps back to the original: original = (letterboxed − pad) / scale. */
export interface LetterboxInfo {
  scale: number;
  padX: number;
  padY: number;
}

/**
 * Resized to fit width×height with its aspect ratio kept, centred, the rest filled (YOLO's
 * letterbox). `info` maps predictions back with `unletterboxBox`.
 */
export function letterbox(
  a: AnnotatedImage,
  size: [number, number],
  options: WarpOptions = {},
): { result: AnnotatedImage; info: LetterboxInfo } {
  const [W, H] = size;
  const scale = Math.min(W / a.width, H / a.height);
  const padX = (W - a.width * scale) / 2,
    padY = (H - a.height * scale) / 2;
  return {
    result: warpAffine(a, [scale, 0, padX, 0, scale, padY], size, { minVisibility: 0, minSize: 0, ...options }),
    info: { scale, padX, padY },
  };
}

/** A box predicted on a letterboxed image, in the original image's pixels. */
export function unletterboxBox(box: readonly number[], info: LetterboxInfo): [number, number, number, number] {
  const { scale, padX, padY } = info;
  return [(box[0] - padX) / scale, (box[1] - padY) / scale, (box[2] - padX) / scale, (box[3] - padY) / scale];
}

export interface RandomResizedCropOptions extends RandomOptions, WarpOptions {
  /** Fraction of the image's area the crop covers: [min, max] (default [0.3, 1]). */
  scale?: [number, number];
  /** Aspect ratio (width / height) of the crop: [min, max], log-uniform (default [3/4, 4/3]). */
  ratio?: [number, number];
}

/** A random crop (area and aspect ratio within the given ranges) resized to width×height. */
export function randomResizedCrop(
  a: AnnotatedImage,
  size: [number, number],
  options: RandomResizedCropOptions = {},
): AnnotatedImage {
  const random = options.random ?? Math.random;
  const [smin, smax] = options.scale ?? [0.3, 1];
  const [rmin, rmax] = options.ratio ?? [3 / 4, 4 / 3];
  const area = a.width * a.height;
  let cw = a.width,
    ch = a.height,
    cx = 0,
    cy = 0;
  // torchvision's recipe: ten tries at a crop that fits, else the whole image.
  for (let i = 0; i < 10; i++) {
    const target = area * (smin + (smax - smin) * random());
    const r = Math.exp(Math.log(rmin) + (Math.log(rmax) - Math.log(rmin)) * random());
    const w = Math.round(Math.sqrt(target * r)),
      h = Math.round(Math.sqrt(target / r));
    if (w > 0 && h > 0 && w <= a.width && h <= a.height) {
      [cw, ch] = [w, h];
      cx = Math.floor(random() * (a.width - w + 1));
      cy = Math.floor(random() * (a.height - h + 1));
      break;
    }
  }
  const [W, H] = size;
  const sx = W / cw,
    sy = H / ch;
  return warpAffine(a, [sx, 0, -cx * sx, 0, sy, -cy * sy], size, options);
}

export interface RandomAffineOptions extends RandomOptions, WarpOptions {
  /** Rotation in degrees, uniform in [−degrees, degrees] (default 0). */
  degrees?: number;
  /** Translation as a fraction of width/height, uniform in [−t, t] (default 0.1). */
  translate?: number;
  /** Scale factor range (default [0.75, 1.25]). */
  scale?: [number, number];
  /** Shear in degrees, uniform in [−shear, shear] along x (default 0). */
  shear?: number;
}

/** A random rotation/scale/shear about the centre plus a translation, output at the input size. */
export function randomAffine(a: AnnotatedImage, options: RandomAffineOptions = {}): AnnotatedImage {
  const random = options.random ?? Math.random;
  const uniform = (lo: number, hi: number) => lo + (hi - lo) * random();
  const deg = options.degrees ?? 0,
    t = options.translate ?? 0.1,
    [s0, s1] = options.scale ?? [0.75, 1.25],
    sh = options.shear ?? 0;
  const angle = (uniform(-deg, deg) * Math.PI) / 180;
  const s = uniform(s0, s1);
  const shear = Math.tan((uniform(-sh, sh) * Math.PI) / 180);
  const cx = a.width / 2,
    cy = a.height / 2;
  const cos = Math.cos(angle) * s,
    sin = Math.sin(angle) * s;
  // centre → origin, rotate+scale, shear, back to the centre, translate
  let m: Affine = [1, 0, -cx, 0, 1, -cy];
  m = composeAffine(m, [cos, -sin, 0, sin, cos, 0]);
  m = composeAffine(m, [1, shear, 0, 0, 1, 0]);
  m = composeAffine(m, [1, 0, cx + uniform(-t, t) * a.width, 0, 1, cy + uniform(-t, t) * a.height]);
  return warpAffine(a, m, [a.width, a.height], options);
}

export interface ColorJitterOptions extends RandomOptions {
  /** Brightness factor in [1 − b, 1 + b] (default 0.2). */
  brightness?: number;
  /** Contrast factor in [1 − c, 1 + c] around the mean grey (default 0.2). */
  contrast?: number;
  /** Saturation factor in [1 − s, 1 + s] around each pixel's grey (default 0.2). */
  saturation?: number;
}

/** Random brightness, contrast and saturation; boxes, masks and class map unchanged. */
export function colorJitter(a: AnnotatedImage, options: ColorJitterOptions = {}): AnnotatedImage {
  checkAnnotated('colorJitter', a);
  const random = options.random ?? Math.random;
  const factor = (r: number) => 1 - r + 2 * r * random();
  const b = factor(options.brightness ?? 0.2),
    c = factor(options.contrast ?? 0.2),
    s = factor(options.saturation ?? 0.2);
  const src = a.image;
  const n = a.width * a.height;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += 0.299 * src[i * 3] + 0.587 * src[i * 3 + 1] + 0.114 * src[i * 3 + 2];
  mean /= n;
  const image = new Uint8Array(src.length);
  for (let i = 0; i < n; i++) {
    const grey = 0.299 * src[i * 3] + 0.587 * src[i * 3 + 1] + 0.114 * src[i * 3 + 2];
    for (let ch = 0; ch < 3; ch++) {
      let v = src[i * 3 + ch] * b;
      v = (v - mean * b) * c + mean * b;
      v = (v - grey * b * c) * s + grey * b * c;
      image[i * 3 + ch] = Math.min(255, Math.max(0, Math.round(v)));
    }
  }
  return { ...a, image };
}

/**
 * YOLO's mosaic: four images in the four quadrants around a random centre of a width×height
 * canvas, each scaled to cover its quadrant and cut at the centre lines.
 */
export function mosaic(
  images: readonly AnnotatedImage[],
  size: [number, number],
  options: RandomOptions & WarpOptions = {},
): AnnotatedImage {
  if (images.length !== 4) throw new Error(`mosaic: expected 4 images, got ${images.length}`);
  const kinds = images.map((a) => `${!!a.masks}/${!!a.classMap}`);
  if (new Set(kinds).size > 1)
    throw new Error('mosaic: the four images must all have (or all lack) instance masks and class maps');
  const random = options.random ?? Math.random;
  const [W, H] = size;
  const cx = Math.round(W * (0.25 + 0.5 * random())),
    cy = Math.round(H * (0.25 + 0.5 * random()));
  const out = canvas(W, H, options.fill ?? 114, images[0]);
  const quadrants: [number, number, number, number][] = [
    [0, 0, cx, cy],
    [cx, 0, W, cy],
    [0, cy, cx, H],
    [cx, cy, W, H],
  ];
  images.forEach((a, q) => {
    const [x0, y0, x1, y1] = quadrants[q];
    if (x1 <= x0 || y1 <= y0) return;
    const s = Math.max((x1 - x0) / a.width, (y1 - y0) / a.height);
    // Each image touches the centre with its inner corner.
    const tx = q % 2 === 0 ? cx - a.width * s : cx;
    const ty = q < 2 ? cy - a.height * s : cy;
    warpInto(out, a, [s, 0, tx, 0, s, ty], options, [x0, y0, x1, y1]);
  });
  return out;
}
