/**
 * The Bible parallel-corpus loader: parsing diatheke's OSIS export (committed samples of real
 * output, test/fixtures/bible/), cleaning markup, aligning by reference and splitting by book.
 * With diatheke and both modules installed (CI installs them), the full export is checked too.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  alignVerses,
  cleanOsis,
  loadBibleParallel,
  parseDiatheke,
  splitByBook,
  type VersePair,
} from '../../src/text/bible.js';
import { tempDir } from '../helpers/temp.js';

const sample = (name: string) => readFileSync(new URL(`../fixtures/bible/${name}`, import.meta.url), 'utf8');

function hasModules(): boolean {
  try {
    const list = execFileSync('diatheke', ['-b', 'system', '-k', 'modulelist'], { encoding: 'utf8' });
    return list.includes('engWEB2015eb') && list.includes('spaRV1909eb');
  } catch {
    return false;
  }
}

describe('cleanOsis', () => {
  it('removes tags, decodes entities and separates words the markup glued together', () => {
    expect(cleanOsis('<w>God</w><w>created</w> <w>the</w> heavens.<milestone type="line"/>')).toBe(
      'God created the heavens.',
    );
    expect(cleanOsis('<w>Christ</w>,<w>the</w> <w lemma="G1">son</w>  &amp; &lt;x&gt; &#241;')).toBe(
      'Christ, the son & <x> ñ',
    );
  });
});

describe('parseDiatheke', () => {
  it('reads references, drops the stale headings before them and the trailing glossary', () => {
    const en = parseDiatheke(sample('web-sample.osis.txt'));
    expect(en.map((v) => `${v.book} ${v.chapter}:${v.verse}`)).toEqual([
      'Genesis 1:1',
      'Genesis 1:2',
      'Psalms 3:1',
      'Psalms 3:2',
      'Matthew 1:1',
      'Tobit 1:1',
      'Revelation of John 22:21',
    ]);
    expect(en[0].text).toBe('In the beginning, God created the heavens and the earth.');
    expect(en[2].text).toBe('Yahweh, how my adversaries have increased! Many are those who rise up against me.');
    expect(en[4].text).toBe('The book of the genealogy of Jesus Christ, the son of David, the son of Abraham.');
    expect(en[6].text).toBe('The grace of the Lord Jesus Christ be with all the saints. Amen.');
  });

  it("lowers the typeset capitals of a chapter's first word", () => {
    const es = parseDiatheke(sample('rv1909-sample.osis.txt'));
    expect(es[0].text).toBe('En el principio crió Dios los cielos y la tierra.');
    expect(es[2].text).toBe(
      'Salmo de David, cuando huía de delante de Absalom su hijo. ¡Oh Jehová, cuánto se han multiplicado mis enemigos! muchos se levantan contra mí.',
    );
    expect(es[4].text).toBe('Libro de la generación de Jesucristo, hijo de David, hijo de Abraham.');
    // Only verse 1: capitals elsewhere are left alone.
    expect(es[3].text).toBe('Muchos dicen de mi vida: No hay para él salud en Dios. (Selah.)');
  });

  it('lowercases a typeset capital word that follows another word', () => {
    const v = parseDiatheke('Ruth 1:1: <w>Y ACONTECIÓ</w> <w>en los días</w>.<milestone type="line"/>');
    expect(v[0].text).toBe('Y aconteció en los días.');
  });

  it('joins continuation lines to the verse before them', () => {
    const v = parseDiatheke('Ruth 1:1: <w>In</w> the days\nwhen the judges judged\n(engWEB2015eb)\n');
    expect(v).toEqual([{ book: 'Ruth', chapter: 1, verse: 1, text: 'In the days when the judges judged' }]);
  });
});

describe('alignVerses and splitByBook', () => {
  const pairs = alignVerses(
    parseDiatheke(sample('web-sample.osis.txt')),
    parseDiatheke(sample('rv1909-sample.osis.txt')),
  );

  it('pairs verses by reference and leaves out verses one side lacks', () => {
    expect(pairs.map((p) => p.ref)).toEqual([
      'Genesis 1:1',
      'Genesis 1:2',
      'Psalms 3:1',
      'Psalms 3:2',
      'Matthew 1:1',
      'Revelation of John 22:21',
    ]);
    expect(pairs[5]).toEqual({
      ref: 'Revelation of John 22:21',
      book: 'Revelation of John',
      chapter: 22,
      verse: 21,
      source: 'The grace of the Lord Jesus Christ be with all the saints. Amen.',
      target: 'La gracia de nuestro Señor Jesucristo sea con todos vosotros. Amén.',
    });
  });

  it('holds out whole books and rejects unknown or overlapping ones', () => {
    const s = splitByBook(pairs, { testBooks: ['Psalms'], devBooks: ['Matthew'] });
    expect(s.test.map((p) => p.ref)).toEqual(['Psalms 3:1', 'Psalms 3:2']);
    expect(s.dev.map((p) => p.ref)).toEqual(['Matthew 1:1']);
    expect(s.train.map((p) => p.ref)).toEqual(['Genesis 1:1', 'Genesis 1:2', 'Revelation of John 22:21']);
    expect(() => splitByBook(pairs, { testBooks: ['Psalm'] })).toThrow(/unknown book 'Psalm'/);
    expect(() => splitByBook(pairs, { testBooks: ['Mark'], devBooks: ['Mark'] })).toThrow(/both/);
  });
});

describe.runIf(hasModules())('the installed modules (Debian sword-text-web, sword-text-sparv)', () => {
  it('export, align and cache ~31k verse pairs; the default split holds out 1,023 test verses', async () => {
    const cacheDir = tempDir('lepton-bible-');
    const pairs = await loadBibleParallel({ cacheDir });
    expect(pairs.length).toBeGreaterThan(30000);
    const again = await loadBibleParallel({ cacheDir }); // from the cache file
    expect(again).toEqual(pairs);
    const byRef = new Map<string, VersePair>(pairs.map((p) => [p.ref, p]));
    expect(byRef.get('John 11:35')?.source).toBe('Jesus wept.');
    expect(byRef.get('John 11:35')?.target).toBe('Y lloró Jesús.');
    expect(pairs.every((p) => !/[<>]/.test(p.source + p.target))).toBe(true);
    const s = splitByBook(pairs);
    expect(new Set(s.test.map((p) => p.book))).toEqual(new Set(['Mark', 'Ruth', 'Jonah', 'James', 'I John']));
    expect(s.test.length + s.dev.length + s.train.length).toBe(pairs.length);
  }, 120_000);
});
