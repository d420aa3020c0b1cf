/**
 * The R lazy-load data base reader on bytes written by hand from R's serialization format (XDR,
 * version 3: flags word = type | object/attribute/tag bits | gp levels << 12), and — when the
 * Debian package r-cran-janeaustenr is installed — on its real data, whose line counts were
 * printed by R itself (`sapply(list(emma, ...), length)`).
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync, gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { joinParagraphs, loadJaneAusten, readLazyLoadDB, unserializeR } from '../../src/text/index.js';

/** A tiny XDR writer: each helper returns the bytes of one item. */
const int = (...v: number[]) => {
  const b = Buffer.alloc(4 * v.length);
  v.forEach((x, i) => b.writeInt32BE(x, 4 * i));
  return b;
};
const ASCII = 64 << 12;
const LATIN1 = 4 << 12;
const chars = (s: string | null, flags = ASCII, encoding: BufferEncoding = 'utf8') =>
  s === null ? int(9, -1) : Buffer.concat([int(9 | flags, Buffer.byteLength(s, encoding)), Buffer.from(s, encoding)]);
const strs = (...v: (string | null)[]) => Buffer.concat([int(16, v.length), ...v.map((s) => chars(s))]);
const ints = (...v: number[]) => int(13, v.length, ...v);
const NIL = int(254);
const HAS_ATTR = 1 << 9;
const HAS_TAG = 1 << 10;
/** A pairlist node holding `names`: the first one defines the symbol, later ones refer to it (REFSXP). */
const namesAttr = (names: Buffer, firstUse: boolean) =>
  Buffer.concat([
    int(2 | HAS_TAG),
    firstUse ? Buffer.concat([int(1), chars('names')]) : int((1 << 8) | 255),
    names,
    NIL,
  ]);
const header = Buffer.concat([Buffer.from('X\n'), int(3, 0x040201, 0x030500, 5), Buffer.from('UTF-8')]);

const dir = mkdtempSync(join(tmpdir(), 'lepton-rdata-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('unserializeR', () => {
  it('decodes strings with NA, integers, logicals, doubles, named lists and symbol references', () => {
    // list(a = c("x", NA, "é"), b = 1:2, c = list(d = TRUE), e = c(0.5, NA_real_)), 'é' written in latin1
    const latin = Buffer.concat([int(16, 3), chars('x'), chars(null), chars('é', LATIN1, 'latin1')]);
    const inner = Buffer.concat([int(19 | HAS_ATTR, 1), int(10, 1, 1), namesAttr(strs('d'), true)]);
    const na = Buffer.from([0x7f, 0xf0, 0, 0, 0, 0, 0x07, 0xa2]); // R's NA_real_ (a NaN payload 1954)
    const reals = Buffer.concat([int(14, 2), Buffer.from([0x3f, 0xe0, 0, 0, 0, 0, 0, 0]), na]);
    const bytes = Buffer.concat([
      header,
      int(19 | HAS_ATTR, 4),
      latin,
      ints(1, 2),
      inner,
      reals,
      namesAttr(strs('a', 'b', 'c', 'e'), false),
    ]);
    expect(unserializeR(bytes)).toEqual({
      names: ['a', 'b', 'c', 'e'],
      values: [['x', null, 'é'], [1, 2], { names: ['d'], values: [[true]] }, [0.5, null]],
    });
  });

  it('says what it cannot read', () => {
    expect(() => unserializeR(Buffer.from('RDX3\n'))).toThrow(/XDR serialization header/);
    expect(() => unserializeR(Buffer.concat([header, int(3)]))).toThrow(/R type 3 is not supported/); // a closure
    expect(() => unserializeR(Buffer.concat([header, int(16, 2), chars('x')]))).toThrow(/unexpected end of data/);
    expect(() => unserializeR(Buffer.concat([Buffer.from('X\n'), int(4, 0, 0)]))).toThrow(/version 4 is not supported/);
  });
});

describe('readLazyLoadDB', () => {
  it('reads the index and the zlib-compressed objects', () => {
    const x = Buffer.concat([header, strs('one line', 'another')]);
    const y = Buffer.concat([header, ints(7)]);
    const chunk = (b: Buffer) => Buffer.concat([int(b.length), deflateSync(b)]);
    const [cx, cy] = [chunk(x), chunk(y)];
    const variables = Buffer.concat([
      int(19 | HAS_ATTR, 2),
      ints(0, cx.length),
      ints(cx.length, cy.length),
      namesAttr(strs('x', 'y'), true),
    ]);
    const index = Buffer.concat([header, int(19 | HAS_ATTR, 1), variables, namesAttr(strs('variables'), false)]);
    writeFileSync(join(dir, 'Rdata.rdx'), gzipSync(index));
    writeFileSync(join(dir, 'Rdata.rdb'), Buffer.concat([cx, cy]));
    const db = readLazyLoadDB(join(dir, 'Rdata'));
    expect([...db.entries()]).toEqual([
      ['x', ['one line', 'another']],
      ['y', [7]],
    ]);
  });
});

describe('Jane Austen', () => {
  it('joins hard-wrapped lines into paragraphs', () => {
    expect(joinParagraphs(['', 'It is a truth ', 'universally', '', '', 'acknowledged.'])).toEqual([
      'It is a truth universally',
      'acknowledged.',
    ]);
  });

  const installed = existsSync('/usr/lib/R/site-library/janeaustenr/data/Rdata.rdb');
  it.skipIf(!installed)('reads the six novels of r-cran-janeaustenr (line counts as R reports them)', async () => {
    const novels = await loadJaneAusten();
    const counts = Object.fromEntries(novels.map((n) => [n.name, n.lines.length]));
    expect(counts).toEqual({
      emma: 16235,
      mansfieldpark: 15349,
      northangerabbey: 7856,
      persuasion: 8328,
      prideprejudice: 13030,
      sensesensibility: 12624,
    });
    const pp = novels.find((n) => n.name === 'prideprejudice')!;
    expect(pp.lines.slice(9, 11)).toEqual([
      'It is a truth universally acknowledged, that a single man in possession',
      'of a good fortune, must be in want of a wife.',
    ]);
  });
});
