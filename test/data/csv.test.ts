import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { Tensor } from '../../src/engine/tensor.js';
import { csvToTensors, parseCsv, readCsv } from '../../src/data/index.js';
import { tempDir } from '../helpers/temp.js';

describe('parseCsv (RFC 4180)', () => {
  it('handles quotes, doubled quotes, delimiters and line breaks inside quotes, CRLF and a BOM', () => {
    const text = '\ufeffname,note,n\r\n"Smith, J.","said ""hi""\r\nthen left",3\r\nplain,,4\n"",x,5';
    expect(parseCsv(text)).toEqual([
      ['name', 'note', 'n'],
      ['Smith, J.', 'said "hi"\r\nthen left', '3'],
      ['plain', '', '4'],
      ['', 'x', '5'],
    ]);
    expect(parseCsv('a;b\n1;"2;3"\n', { delimiter: ';' })).toEqual([
      ['a', 'b'],
      ['1', '2;3'],
    ]);
    expect(parseCsv('a,b\n')).toEqual([['a', 'b']]);
    expect(() => parseCsv('a,"open\n1,2')).toThrow(/unterminated quoted field starting on line 1/);
  });
});

describe('readCsv typed columns', () => {
  const text = [
    'id,height,count,colour,comment,species',
    '1,1.5,3,red,"tall, green",setosa',
    '2,,4,blue,"said ""no""",virginica',
    '3,2.25,-7,red,,setosa',
    '4,3,0,green,x,versicolor',
  ].join('\n');

  it('converts declared and inferred types, with category vocabularies and a label', () => {
    const data = csvToTensors(text, { columns: { id: 'int32', count: 'int32', comment: 'string' }, label: 'species' });
    const col = (name: string): number[] => Array.from((data.columns[name] as Tensor).data as Float32Array);
    expect((data.columns.id as Tensor).dtype).toBe('int32');
    expect(col('id')).toEqual([1, 2, 3, 4]);
    expect((data.columns.height as Tensor).dtype).toBe('float32'); // inferred numeric; empty → NaN
    expect(col('height')[0]).toBe(1.5);
    expect(Number.isNaN(col('height')[1])).toBe(true);
    expect(col('count')).toEqual([3, 4, -7, 0]);
    expect(data.vocabularies.colour).toEqual(['blue', 'green', 'red']); // inferred category, sorted
    expect(col('colour')).toEqual([2, 0, 2, 1]);
    expect(data.columns.comment).toEqual(['tall, green', 'said "no"', '', 'x']);
    expect(data.classNames).toEqual(['setosa', 'versicolor', 'virginica']);
    expect(data.y!.dtype).toBe('int32');
    expect(Array.from(data.y!.data as ArrayLike<number>)).toEqual([0, 2, 0, 1]);
    // x: numeric and category columns except the label and strings, in file order
    expect(data.featureNames).toEqual(['id', 'height', 'count', 'colour']);
    expect(data.x.shape).toEqual([4, 4]);
    expect(Array.from((data.x.data as Float32Array).subarray(8, 12))).toEqual([3, 2.25, -7, 2]);
  });

  it('reuses a given vocabulary, reads .gz files without a header, and reports bad values', async () => {
    const dir = tempDir('lepton-csv-');
    const path = join(dir, 't.csv.gz');
    writeFileSync(path, gzipSync('0.5\tb\n1.5\ta\n'));
    const data = await readCsv(path, {
      header: false,
      delimiter: '\t',
      names: ['v', 'k'],
      label: 'k',
      vocabularies: { k: ['b', 'a'] },
    });
    expect(Array.from(data.x.data as ArrayLike<number>)).toEqual([0.5, 1.5]);
    expect(Array.from(data.y!.data as ArrayLike<number>)).toEqual([0, 1]);
    expect(() => csvToTensors('a\n1.5\n', { columns: { a: 'int32' } })).toThrow(
      /column "a" row 2: "1.5" is not a 32-bit integer/,
    );
    expect(() => csvToTensors('a\nx\n', { columns: { a: 'float32' } })).toThrow(/"x" is not a number/);
    expect(() => csvToTensors('a,b\n1\n')).toThrow(/row 2 has 1 fields, expected 2/);
    expect(() => csvToTensors('a\n1\n', { label: 'z' })).toThrow(/no column "z"/);
    expect(() => csvToTensors('k\nc\n', { vocabularies: { k: ['a', 'b'] } })).toThrow(
      /category "c" is not in the given vocabulary/,
    );
  });
});
