/** Independent plain-loop references for layer tests (NHWC, Keras kernel layouts). */

export interface Arr {
  data: ArrayLike<number>;
  shape: number[];
}

/** 'same' padding split as in TensorFlow: the odd extra element goes at the end. */
export function samePad(input: number, kernel: number, stride: number, dilation = 1): [number, number] {
  const out = Math.ceil(input / stride);
  const total = Math.max((out - 1) * stride + dilation * (kernel - 1) + 1 - input, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

/** Conv2D: x [N,H,W,C], kernel [kh,kw,C/g,F], bias [F] → [N,OH,OW,F]. */
export function conv2dRef(
  x: Arr,
  kernel: Arr,
  bias: ArrayLike<number> | undefined,
  o: { strides?: [number, number]; padding?: 'valid' | 'same'; dilation?: [number, number]; groups?: number } = {},
): Arr {
  const [n, h, w, c] = x.shape;
  const [kh, kw, cg, f] = kernel.shape;
  const [sh, sw] = o.strides ?? [1, 1];
  const [dh, dw] = o.dilation ?? [1, 1];
  const g = o.groups ?? 1;
  const [pt] = o.padding === 'same' ? samePad(h, kh, sh, dh) : [0, 0];
  const [pl] = o.padding === 'same' ? samePad(w, kw, sw, dw) : [0, 0];
  const oh = o.padding === 'same' ? Math.ceil(h / sh) : Math.floor((h - dh * (kh - 1) - 1) / sh) + 1;
  const ow = o.padding === 'same' ? Math.ceil(w / sw) : Math.floor((w - dw * (kw - 1) - 1) / sw) + 1;
  const out = new Float64Array(n * oh * ow * f);
  const fg = f / g;
  for (let b = 0; b < n; b++)
    for (let i = 0; i < oh; i++)
      for (let j = 0; j < ow; j++)
        for (let co = 0; co < f; co++) {
          const grp = Math.floor(co / fg);
          let s = bias ? bias[co] : 0;
          for (let a = 0; a < kh; a++)
            for (let e = 0; e < kw; e++) {
              const y = i * sh + a * dh - pt;
              const z = j * sw + e * dw - pl;
              if (y < 0 || y >= h || z < 0 || z >= w) continue;
              for (let ci = 0; ci < cg; ci++) {
                s += x.data[((b * h + y) * w + z) * c + grp * cg + ci] * kernel.data[((a * kw + e) * cg + ci) * f + co];
              }
            }
          out[((b * oh + i) * ow + j) * f + co] = s;
        }
  return { data: out, shape: [n, oh, ow, f] };
}

/** Pooling over [N,H,W,C]; 'same' windows ignore padded positions (max and average). */
export function pool2dRef(
  x: Arr,
  kind: 'max' | 'avg',
  size: [number, number],
  strides: [number, number],
  padding: 'valid' | 'same',
): Arr {
  const [n, h, w, c] = x.shape;
  const [kh, kw] = size;
  const [sh, sw] = strides;
  const [pt] = padding === 'same' ? samePad(h, kh, sh) : [0, 0];
  const [pl] = padding === 'same' ? samePad(w, kw, sw) : [0, 0];
  const oh = padding === 'same' ? Math.ceil(h / sh) : Math.floor((h - kh) / sh) + 1;
  const ow = padding === 'same' ? Math.ceil(w / sw) : Math.floor((w - kw) / sw) + 1;
  const out = new Float64Array(n * oh * ow * c);
  for (let b = 0; b < n; b++)
    for (let i = 0; i < oh; i++)
      for (let j = 0; j < ow; j++)
        for (let ch = 0; ch < c; ch++) {
          let m = -Infinity;
          let s = 0;
          let count = 0;
          for (let a = 0; a < kh; a++)
            for (let e = 0; e < kw; e++) {
              const y = i * sh + a - pt;
              const z = j * sw + e - pl;
              if (y < 0 || y >= h || z < 0 || z >= w) continue;
              const v = x.data[((b * h + y) * w + z) * c + ch];
              m = Math.max(m, v);
              s += v;
              count++;
            }
          out[((b * oh + i) * ow + j) * c + ch] = kind === 'max' ? m : s / count;
        }
  return { data: out, shape: [n, oh, ow, c] };
}

export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number): void {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} != ${expected.length}`);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < actual.length; i++) {
    const err = Math.abs(actual[i] - expected[i]) / Math.max(1, Math.abs(expected[i]));
    if (!(err <= worst)) {
      worst = err;
      at = i;
    }
  }
  if (!(worst <= tol))
    throw new Error(`max relative error ${worst} at ${at}: got ${actual[at]}, expected ${expected[at]} (tol ${tol})`);
}
