/**
 * Reads character vectors out of an R package's lazy-load data base (`data/Rdata.rdx` +
 * `Rdata.rdb`), so corpora shipped as R packages (Debian `r-cran-janeaustenr`) are usable without
 * R. The index (.rdx) is a gzipped R serialization of `list(variables = list(name = c(offset,
 * length)), ...)`; each object in .rdb is a 4-byte big-endian inflated length followed by a zlib
 * stream holding one serialized object. Only the R types that data sets use are decoded (vectors,
 * lists, pairlists, symbols, strings); anything else is a clear error.
 */
import { readFileSync } from 'node:fs';
import { gunzipSync, inflateSync } from 'node:zlib';

/** A decoded R value: vectors become JS arrays (NA → null), lists keep their names when present. */
export type RValue = null | string | RValue[] | (string | null)[] | (number | null)[] | (boolean | null)[] | RList;
export interface RList {
  names: string[];
  values: RValue[];
}

const NILVALUE = 254;
const REF = 255;
const GLOBALENV = 253;
const EMPTYENV = 242;
const BASEENV = 241;

/** Decodes one R serialization stream in XDR ('X') format, versions 2 and 3. */
export function unserializeR(bytes: Uint8Array, source = 'R data'): RValue {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 0;
  const fail = (what: string): never => {
    throw new Error(`unserializeR: ${source}: ${what} (at byte ${pos})`);
  };
  const int = (): number => {
    if (pos + 4 > bytes.length) fail('unexpected end of data');
    const v = view.getInt32(pos);
    pos += 4;
    return v;
  };
  const refs: RValue[] = [];
  if (bytes[0] !== 0x58 || bytes[1] !== 0x0a)
    fail(
      `expected the XDR serialization header "X\\n", got ${JSON.stringify(String.fromCharCode(bytes[0], bytes[1]))}`,
    );
  pos = 2;
  const version = int();
  int(); // writer's R version
  int(); // minimal reader version
  if (version === 3) {
    const n = int(); // the native encoding's name, not needed: strings carry their own encoding flag
    pos += n;
  } else if (version !== 2) fail(`serialization version ${version} is not supported (expected 2 or 3)`);

  const charsxp = (): string | null => {
    const flags = int();
    if ((flags & 0xff) !== 9) fail(`expected a string (CHARSXP, type 9), got type ${flags & 0xff}`);
    const n = int();
    if (n === -1) return null;
    // the gp field (flags >> 12) marks latin1 strings with bit 2; others are UTF-8 or ASCII
    const s = Buffer.from(bytes.buffer, bytes.byteOffset + pos, n).toString(flags & (1 << 14) ? 'latin1' : 'utf8');
    pos += n;
    return s;
  };
  const vector = <T>(read: () => T): T[] => {
    const n = int();
    return Array.from({ length: n }, read);
  };
  /** Attributes are a pairlist; only `names` matters for the values we return. */
  const withAttributes = (value: RValue, hasAttr: boolean): RValue => {
    if (!hasAttr) return value;
    const attrs = item();
    const names = attrs && !Array.isArray(attrs) && typeof attrs === 'object' ? attrs : undefined;
    const i = names?.names.indexOf('names') ?? -1;
    if (i >= 0 && Array.isArray(value)) return { names: names!.values[i] as string[], values: value as RValue[] };
    return value;
  };
  function item(): RValue {
    const flags = int();
    const type = flags & 0xff;
    const hasAttr = (flags & (1 << 9)) !== 0;
    const hasTag = (flags & (1 << 10)) !== 0;
    switch (type) {
      case NILVALUE:
      case GLOBALENV:
      case EMPTYENV:
      case BASEENV:
        return null;
      case REF: {
        const index = flags >> 8 || int();
        return refs[index - 1] ?? fail(`reference ${index} to an object not seen yet`);
      }
      case 1: {
        // SYMSXP: a symbol is its name, remembered for later references
        const name = charsxp() ?? '';
        refs.push(name);
        return name;
      }
      case 2: {
        // LISTSXP (pairlist): [attributes] [tag] car cdr, flattened into a named list
        const names: string[] = [];
        const values: RValue[] = [];
        let f = flags;
        for (;;) {
          if (f & (1 << 9)) item();
          names.push(f & (1 << 10) ? (item() as string) : '');
          values.push(item());
          f = int();
          if ((f & 0xff) === NILVALUE) break;
          if ((f & 0xff) !== 2) fail(`a pairlist continues with type ${f & 0xff}`);
        }
        return { names, values };
      }
      case 9:
        pos -= 4;
        return charsxp();
      case 10:
        return withAttributes(
          vector(() => {
            const v = int();
            return v === -2147483648 ? null : v !== 0;
          }),
          hasAttr,
        );
      case 13:
        return withAttributes(
          vector(() => {
            const v = int();
            return v === -2147483648 ? null : v;
          }),
          hasAttr,
        );
      case 14:
        return withAttributes(
          vector(() => {
            const v = view.getFloat64(pos);
            pos += 8;
            return Number.isNaN(v) ? null : v;
          }),
          hasAttr,
        );
      case 16:
        return withAttributes(vector(charsxp), hasAttr);
      case 19:
        return withAttributes(vector(item), hasAttr);
      default:
        void hasTag;
        return fail(`R type ${type} is not supported (this reader decodes vectors, lists, symbols and strings)`);
    }
  }
  return item();
}

/** Names and values of the objects in a lazy-load data base `<base>.rdx` / `<base>.rdb`. */
export function readLazyLoadDB(base: string): Map<string, RValue> {
  const index = unserializeR(gunzipSync(readFileSync(`${base}.rdx`)), `${base}.rdx`) as RList;
  const variables = index.values[index.names.indexOf('variables')] as RList | undefined;
  if (!variables?.names) throw new Error(`readLazyLoadDB: ${base}.rdx has no 'variables' index`);
  const db = readFileSync(`${base}.rdb`);
  const out = new Map<string, RValue>();
  variables.names.forEach((name, i) => {
    const [offset, length] = variables.values[i] as number[];
    const chunk = db.subarray(offset, offset + length);
    // 4-byte inflated length, then zlib (R's compression type 1)
    out.set(name, unserializeR(inflateSync(chunk.subarray(4)), `${base}.rdb:${name}`));
  });
  return out;
}
