import { copyFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Dataset, breastCancer, datasets, iris, sklearnDigits, wine } from '../../src/data/index.js';
import type { Tensor } from '../../src/engine/tensor.js';
import { tempDir } from '../helpers/temp.js';

const SKLEARN_DATA = '/usr/lib/python3/dist-packages/sklearn/datasets/data';
const installed = existsSync(join(SKLEARN_DATA, 'iris.csv'));

function classCounts(y: Tensor, k: number): number[] {
  const counts = new Array(k).fill(0);
  for (const v of y.data as Int32Array) counts[v]++;
  return counts;
}

describe('scikit-learn bundled tables', () => {
  it('iris: 150 × 4, 50 per species, the first flower is 5.1 3.5 1.4 0.2', async () => {
    if (!installed) {
      await expect(iris()).rejects.toThrow(/apt-get install python3-sklearn/);
      return;
    }
    const data = await datasets.iris(); // the Keras-style namespace holds the same loaders
    expect(datasets.iris).toBe(iris);
    expect(data.x.shape).toEqual([150, 4]);
    expect(Array.from((data.x.data as Float32Array).subarray(0, 4))).toEqual([5.1, 3.5, 1.4, 0.2].map(Math.fround));
    expect(classCounts(data.y, 3)).toEqual([50, 50, 50]);
    expect(data.classNames).toEqual(['setosa', 'versicolor', 'virginica']);
    expect(data.featureNames[0]).toBe('sepal length (cm)');
    // usable directly as a training dataset
    const [[bx, by]] = await Dataset.fromTensors(data.x, data.y).batch(150).toArray();
    expect(bx.shape).toEqual([150, 4]);
    expect(by.dtype).toBe('int32');
  });

  it('digits: 1,797 8×8 images with values 0–16 and the known class sizes', async () => {
    if (!installed) {
      await expect(sklearnDigits()).rejects.toThrow(/python3-sklearn/);
      return;
    }
    const data = await sklearnDigits();
    expect(data.x.shape).toEqual([1797, 64]);
    expect(data.images.shape).toEqual([1797, 8, 8]);
    for (const v of data.x.data as Float32Array)
      if (!(Number.isInteger(v) && v >= 0 && v <= 16)) throw new Error(`pixel value ${v}`);
    expect(classCounts(data.y, 10)).toEqual([178, 182, 177, 183, 181, 182, 181, 179, 174, 180]);
  });

  it('wine and breast cancer: shapes and class sizes', async () => {
    if (!installed) {
      await expect(wine()).rejects.toThrow(/python3-sklearn/);
      return;
    }
    const w = await wine();
    expect(w.x.shape).toEqual([178, 13]);
    expect(classCounts(w.y, 3)).toEqual([59, 71, 48]);
    const b = await breastCancer();
    expect(b.x.shape).toEqual([569, 30]);
    expect(b.classNames).toEqual(['malignant', 'benign']);
    expect(classCounts(b.y, 2)).toEqual([212, 357]);
    expect(b.featureNames.slice(9, 11)).toEqual(['mean fractal dimension', 'radius error']);
  });

  it('reads an explicit file or folder, and a bogus path says how to get the data', async () => {
    if (installed) {
      const dir = tempDir('lepton-sk-');
      copyFileSync(join(SKLEARN_DATA, 'iris.csv'), join(dir, 'iris.csv'));
      expect((await iris({ path: dir })).x.shape).toEqual([150, 4]);
      expect((await iris({ path: join(dir, 'iris.csv') })).y.shape).toEqual([150]);
    }
    await expect(iris({ path: '/no/such/dir' })).rejects.toThrow(/does not exist[\s\S]*pip install scikit-learn/);
  });
});
