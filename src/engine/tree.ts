/** Nested arrays/objects of tensors ("pytrees"): flattened to a list of tensors and rebuilt. */
import { shapeStr } from './shape.js';
import { Tensor } from './tensor.js';

export type Tree =
  | Tensor
  | number
  | string
  | boolean
  | bigint
  | null
  | undefined
  | readonly Tree[]
  | { readonly [k: string]: Tree };

export interface Flat {
  leaves: Tensor[];
  /** Describes the structure and the non-tensor leaves; equal structures give equal keys. */
  key: string;
  rebuild(leaves: readonly Tensor[]): any;
}

/** An object literal (prototype Object.prototype): a tree node, unlike class instances such as Tensor. */
export function isPlainObject(v: unknown): v is Record<string, any> {
  return v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype;
}

/** A short description of a value for "got …" in error messages (tensors with shape and dtype). */
export function describeValue(v: unknown): string {
  if (v instanceof Tensor) return `Tensor ${shapeStr(v.shape)} ${v.dtype}`;
  if (v === null || v === undefined) return String(v);
  if (Array.isArray(v)) return `array of ${v.length}`;
  if (isPlainObject(v)) return `object {${Object.keys(v).join(', ')}}`;
  return typeof v === 'object' ? (v.constructor?.name ?? 'object') : typeof v;
}

export function flatten(tree: unknown): Flat {
  const leaves: Tensor[] = [];
  const build = (t: unknown): { key: string; make: (next: () => Tensor) => unknown } => {
    if (t instanceof Tensor) {
      leaves.push(t);
      return { key: 'T', make: (next) => next() };
    }
    if (Array.isArray(t)) {
      const parts = t.map(build);
      return { key: `[${parts.map((p) => p.key).join(',')}]`, make: (next) => parts.map((p) => p.make(next)) };
    }
    if (isPlainObject(t)) {
      const entries = Object.entries(t).map(([k, v]) => [k, build(v)] as const);
      return {
        key: `{${entries.map(([k, p]) => `${JSON.stringify(k)}:${p.key}`).join(',')}}`,
        make: (next) => Object.fromEntries(entries.map(([k, p]) => [k, p.make(next)])),
      };
    }
    if (t !== null && typeof t === 'object') {
      throw new Error(
        `expected tensors, numbers or plain arrays/objects of them; got ${(t as object).constructor?.name ?? 'object'}`,
      );
    }
    return { key: typeof t === 'bigint' ? `${t}n` : (JSON.stringify(t) ?? 'undefined'), make: () => t };
  };
  const root = build(tree);
  return {
    leaves,
    key: root.key,
    rebuild(newLeaves) {
      let i = 0;
      return root.make(() => newLeaves[i++]);
    },
  };
}
