/**
 * The constant matrices behind audio features, computed on the host in float64: analysis
 * windows, mel scales and triangular mel filterbanks (torchaudio/librosa 'htk' and 'slaney', and
 * Kaldi's), and the DCT-II of MFCCs. Features (features.ts) turn them into tensors once per
 * configuration; keeping them here keeps the formulas in one readable place.
 */

export type WindowType = 'hann' | 'hamming' | 'povey' | 'blackman' | 'rectangular';

/**
 * An analysis window of `length` samples. `periodic` (torch's default for STFT windows) gives the
 * first `length` points of a window of `length + 1`; Kaldi uses symmetric windows (periodic false).
 */
export function windowFunction(type: WindowType, length: number, periodic: boolean): Float64Array {
  if (!Number.isInteger(length) || length < 1)
    throw new Error(`audio window: length must be a positive integer, got ${length}`);
  const w = new Float64Array(length);
  const denom = periodic ? length : length - 1;
  const phase = (n: number): number => (denom === 0 ? 0 : (2 * Math.PI * n) / denom);
  for (let n = 0; n < length; n++) {
    switch (type) {
      case 'hann':
        w[n] = 0.5 - 0.5 * Math.cos(phase(n));
        break;
      case 'povey': // Kaldi's default: a Hann window raised to 0.85 (non-zero edges).
        w[n] = (0.5 - 0.5 * Math.cos(phase(n))) ** 0.85;
        break;
      case 'hamming':
        w[n] = 0.54 - 0.46 * Math.cos(phase(n));
        break;
      case 'blackman':
        w[n] = 0.42 - 0.5 * Math.cos(phase(n)) + 0.08 * Math.cos(2 * phase(n));
        break;
      case 'rectangular':
        w[n] = 1;
        break;
      default:
        throw new Error(
          `audio window: unknown window '${type as string}' (expected hann, hamming, povey, blackman or rectangular)`,
        );
    }
  }
  return w;
}

export type MelScale = 'htk' | 'slaney' | 'kaldi';

/** Hertz to mel. 'htk': 2595·log10(1 + f/700); 'kaldi': 1127·ln(1 + f/700) (the same curve); 'slaney': linear below 1 kHz, logarithmic above. */
export function hzToMel(f: number, scale: MelScale = 'htk'): number {
  if (scale === 'htk') return 2595 * Math.log10(1 + f / 700);
  if (scale === 'kaldi') return 1127 * Math.log(1 + f / 700);
  const fSp = 200 / 3;
  const minLogHz = 1000;
  const minLogMel = minLogHz / fSp;
  const logStep = Math.log(6.4) / 27;
  return f >= minLogHz ? minLogMel + Math.log(f / minLogHz) / logStep : f / fSp;
}

/** The inverse of `hzToMel`. */
export function melToHz(m: number, scale: MelScale = 'htk'): number {
  if (scale === 'htk') return 700 * (10 ** (m / 2595) - 1);
  if (scale === 'kaldi') return 700 * (Math.exp(m / 1127) - 1);
  const fSp = 200 / 3;
  const minLogHz = 1000;
  const minLogMel = minLogHz / fSp;
  const logStep = Math.log(6.4) / 27;
  return m >= minLogMel ? minLogHz * Math.exp(logStep * (m - minLogMel)) : fSp * m;
}

export interface MelFilterbankOptions {
  /** Number of STFT bins (nFft / 2 + 1). */
  nFreqs: number;
  nMels: number;
  sampleRate: number;
  fMin?: number;
  /** Default: sampleRate / 2. */
  fMax?: number;
  /** 'slaney' scales each triangle to unit area (librosa's default); null leaves peaks at 1. */
  norm?: 'slaney' | null;
  melScale?: 'htk' | 'slaney';
}

/**
 * Triangular mel filters as torchaudio's `melscale_fbanks` builds them: `nMels + 2` points evenly
 * spaced in mel between fMin and fMax, each filter rising from one point to the next and falling
 * to the one after, evaluated at the STFT bin frequencies. Returns [nMels, nFreqs] row-major.
 */
export function melFilterbank(options: MelFilterbankOptions): Float64Array {
  const { nFreqs, nMels, sampleRate, fMin = 0, fMax = sampleRate / 2, norm = null, melScale = 'htk' } = options;
  if (!(fMax > fMin) || fMin < 0)
    throw new Error(`melFilterbank: need 0 <= fMin < fMax, got fMin ${fMin}, fMax ${fMax}`);
  const lo = hzToMel(fMin, melScale);
  const hi = hzToMel(fMax, melScale);
  const points = Array.from({ length: nMels + 2 }, (_, i) => melToHz(lo + ((hi - lo) * i) / (nMels + 1), melScale));
  const nyquist = Math.floor(sampleRate / 2);
  const fb = new Float64Array(nMels * nFreqs);
  for (let m = 0; m < nMels; m++) {
    const [left, center, right] = [points[m]!, points[m + 1]!, points[m + 2]!];
    const scale = norm === 'slaney' ? 2 / (right - left) : 1;
    for (let k = 0; k < nFreqs; k++) {
      const f = nFreqs === 1 ? 0 : (nyquist * k) / (nFreqs - 1);
      const up = (f - left) / (center - left);
      const down = (right - f) / (right - center);
      fb[m * nFreqs + k] = Math.max(0, Math.min(up, down)) * scale;
    }
  }
  return fb;
}

/**
 * Kaldi's mel filterbank (`get_mel_banks`): triangles in the mel domain over the FFT bins of a
 * `paddedLength`-point FFT. Kaldi leaves the Nyquist bin out, so its column is zero.
 * `highFreq <= 0` means `nyquist + highFreq`. Returns [numBins, paddedLength / 2 + 1].
 */
export function kaldiMelFilterbank(
  numBins: number,
  paddedLength: number,
  sampleRate: number,
  lowFreq: number,
  highFreq: number,
): Float64Array {
  const nyquist = sampleRate / 2;
  const high = highFreq <= 0 ? nyquist + highFreq : highFreq;
  if (!(lowFreq >= 0 && lowFreq < high && high <= nyquist)) {
    throw new Error(`fbank: need 0 <= lowFreq < highFreq <= ${nyquist} Hz, got lowFreq ${lowFreq}, highFreq ${high}`);
  }
  const nFft = paddedLength / 2;
  const binWidth = sampleRate / paddedLength;
  const lowMel = hzToMel(lowFreq, 'kaldi');
  const delta = (hzToMel(high, 'kaldi') - lowMel) / (numBins + 1);
  const fb = new Float64Array(numBins * (nFft + 1));
  for (let b = 0; b < numBins; b++) {
    const left = lowMel + b * delta;
    const center = left + delta;
    const right = center + delta;
    for (let k = 0; k < nFft; k++) {
      const mel = hzToMel(binWidth * k, 'kaldi');
      fb[b * (nFft + 1) + k] = Math.max(0, Math.min((mel - left) / (center - left), (right - mel) / (right - center)));
    }
  }
  return fb;
}

/** The orthonormal DCT-II that turns log-mel energies into cepstra: [nMfcc, nMels] row-major. */
export function dctMatrix(nMfcc: number, nMels: number): Float64Array {
  if (nMfcc > nMels) throw new Error(`mfcc: nMfcc (${nMfcc}) cannot exceed nMels (${nMels})`);
  const d = new Float64Array(nMfcc * nMels);
  for (let k = 0; k < nMfcc; k++) {
    const scale = Math.sqrt(2 / nMels) * (k === 0 ? Math.SQRT1_2 : 1);
    for (let n = 0; n < nMels; n++) d[k * nMels + n] = scale * Math.cos((Math.PI / nMels) * (n + 0.5) * k);
  }
  return d;
}
