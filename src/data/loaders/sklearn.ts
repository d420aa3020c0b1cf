/**
 * The small classic tables that scikit-learn ships (digits, iris, wine, breast cancer), read from
 * its data folder (Debian `python3-sklearn`, or a pip install) or the Lepton cache.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Tensor } from '../../engine/tensor.js';
import { parseCsv } from './csv.js';
import { readMaybeGzipped } from './files.js';
import { type LocateOptions, firstExisting, locate } from './locate.js';

export interface TabularData {
  /** float32 [samples, features]. */
  x: Tensor;
  /** int32 [samples] class indices. */
  y: Tensor;
  featureNames: string[];
  classNames: string[];
}

export interface DigitsData extends TabularData {
  /** The same pixels as x, shaped float32 [samples, 8, 8] (values 0–16). */
  images: Tensor;
}

export type SklearnLoadOptions = Pick<LocateOptions, 'path'>;

/** Folders where scikit-learn's bundled data may be installed. */
function sklearnDataDirs(): string[] {
  const dirs = ['/usr/lib/python3/dist-packages/sklearn/datasets/data'];
  for (const root of ['/usr/local/lib', '/usr/lib']) {
    let entries: string[] = [];
    try {
      entries = readdirSync(root).filter((d) => /^python3(\.\d+)?$/.test(d));
    } catch {
      continue;
    }
    for (const py of entries) {
      for (const kind of ['dist-packages', 'site-packages'])
        dirs.push(join(root, py, kind, 'sklearn', 'datasets', 'data'));
    }
  }
  return [...new Set(dirs)].filter((d) => existsSync(d));
}

async function readTable(fileNames: string[], title: string, options: SklearnLoadOptions): Promise<string[][]> {
  const path = await locate(
    {
      title,
      cacheName: 'sklearn',
      systemDirs: sklearnDataDirs,
      findInDir: (dir) => firstExisting(dir, fileNames),
      findFile: (file) => file,
      howToGet:
        `To get ${title}: \`apt-get install python3-sklearn\` (Debian/Ubuntu) or \`pip install scikit-learn\` (it ships ${fileNames[0]}), ` +
        `or copy ${fileNames[0]} from scikit-learn's sklearn/datasets/data/ into ~/.cache/lepton/sklearn/ (or $LEPTON_DATA/sklearn/), ` +
        'or pass { path: "<the file or its folder>" }.',
    },
    { ...options, download: false },
  );
  return parseCsv(new TextDecoder().decode(await readMaybeGzipped(path))).filter((r) => r.some((f) => f.trim() !== ''));
}

/** Rows of numbers whose last column is the class index. */
function toTabular(rows: string[][], title: string, featureNames: string[], classNames: string[]): TabularData {
  const f = featureNames.length;
  const x = new Float32Array(rows.length * f);
  const y = new Int32Array(rows.length);
  rows.forEach((row, r) => {
    if (row.length !== f + 1)
      throw new Error(`${title}: data row ${r + 1} has ${row.length} fields, expected ${f} features + 1 target`);
    for (let j = 0; j < f; j++) x[r * f + j] = Number(row[j]);
    y[r] = Number(row[f]);
  });
  return {
    x: new Tensor([rows.length, f], 'float32', x),
    y: new Tensor([rows.length], 'int32', y),
    featureNames,
    classNames,
  };
}

/** scikit-learn's format for iris/wine/breast cancer: a first line "samples,features,class names…". */
async function loadWithMetaLine(
  file: string,
  title: string,
  featureNames: string[],
  options: SklearnLoadOptions,
): Promise<TabularData> {
  const [meta, ...rows] = await readTable([file], title, options);
  const [samples, features] = [Number(meta[0]), Number(meta[1])];
  if (rows.length !== samples || features !== featureNames.length) {
    throw new Error(
      `${title}: header says ${samples} samples × ${features} features, file has ${rows.length} rows (expected ${featureNames.length} features)`,
    );
  }
  return toTabular(
    rows,
    title,
    featureNames,
    meta.slice(2).map((s) => s.trim()),
  );
}

/** Iris: 150 flowers × 4 measurements (cm), 3 species. */
export function iris(options: SklearnLoadOptions = {}): Promise<TabularData> {
  return loadWithMetaLine(
    'iris.csv',
    'Iris',
    ['sepal length (cm)', 'sepal width (cm)', 'petal length (cm)', 'petal width (cm)'],
    options,
  );
}

/** Wine: 178 wines × 13 chemical measurements, 3 cultivars. */
export function wine(options: SklearnLoadOptions = {}): Promise<TabularData> {
  const names = [
    'alcohol',
    'malic_acid',
    'ash',
    'alcalinity_of_ash',
    'magnesium',
    'total_phenols',
    'flavanoids',
    'nonflavanoid_phenols',
    'proanthocyanins',
    'color_intensity',
    'hue',
    'od280/od315_of_diluted_wines',
    'proline',
  ];
  return loadWithMetaLine('wine_data.csv', 'Wine', names, options);
}

/** Breast cancer (Wisconsin diagnostic): 569 samples × 30 features, malignant/benign. */
export function breastCancer(options: SklearnLoadOptions = {}): Promise<TabularData> {
  const base = [
    'radius',
    'texture',
    'perimeter',
    'area',
    'smoothness',
    'compactness',
    'concavity',
    'concave points',
    'symmetry',
    'fractal dimension',
  ];
  const names = [...base.map((b) => `mean ${b}`), ...base.map((b) => `${b} error`), ...base.map((b) => `worst ${b}`)];
  return loadWithMetaLine('breast_cancer.csv', 'Breast cancer', names, options);
}

/** Digits: 1,797 handwritten digits as 8×8 images with values 0–16, 10 classes. */
export async function sklearnDigits(options: SklearnLoadOptions = {}): Promise<DigitsData> {
  const rows = await readTable(['digits.csv.gz', 'digits.csv'], 'Digits', options);
  const featureNames = Array.from({ length: 64 }, (_, i) => `pixel_${Math.floor(i / 8)}_${i % 8}`);
  const data = toTabular(rows, 'Digits', featureNames, ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
  return { ...data, images: new Tensor([rows.length, 8, 8], 'float32', data.x.data) };
}
