/**
 * A small conv-stack CTC model with random weights, for tests of the recognizer's plumbing
 * (windowing, endpointing, the CLI): what it emits is arbitrary but deterministic and varied.
 */
import { layers, sequential, setSeed } from '../../src/index.js';
import { ASR_ALPHABET, AsrModel } from '../../src/audio/index.js';

export const BINS = 20;

export function randomAsr(): AsrModel {
  setSeed(7);
  const m = sequential();
  m.add(
    layers.Normalization({ mean: new Array(BINS).fill(8), variance: new Array(BINS).fill(16), inputShape: [96, BINS] }),
  );
  m.add(layers.Conv1D(32, 5, { strides: 3, padding: 'same', activation: 'relu' }));
  m.add(layers.Conv1D(32, 7, { padding: 'same', groups: 32 }));
  m.add(layers.Conv1D(32, 1, { activation: 'relu' }));
  m.add(layers.BatchNormalization());
  m.add(layers.Conv1D(32, 9, { padding: 'same', groups: 32 }));
  m.add(
    layers.Dense(ASR_ALPHABET.length + 1, { kernelInitializer: { className: 'RandomNormal', config: { stddev: 1 } } }),
  );
  return new AsrModel(m, { alphabet: ASR_ALPHABET, numMelBins: BINS, sampleRate: 16000 });
}
