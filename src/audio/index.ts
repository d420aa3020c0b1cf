/**
 * lepton/audio: the speech toolkit. Audio features as ops (STFT, mel, MFCC, Kaldi fbank) that run
 * eagerly, inside compiled and exported graphs, and differentiate; their filterbanks; WAV I/O;
 * readers for real speech corpora; streaming recognition and keyword detection.
 */
// Installs ONNX Runtime as the executor of ops on concrete tensors (engine/index.ts is the composition root).
import '../engine/index.js';
export {
  spectrogram,
  melSpectrogram,
  amplitudeToDb,
  mfcc,
  fbank,
  fbankClips,
  logMelClips,
  type ClipsOptions,
  type StftOptions,
  type SpectrogramOptions,
  type MelSpectrogramOptions,
  type MfccOptions,
  type AmplitudeToDbOptions,
  type FbankOptions,
} from './features.js';
export {
  windowFunction,
  hzToMel,
  melToHz,
  melFilterbank,
  kaldiMelFilterbank,
  dctMatrix,
  type WindowType,
  type MelScale,
  type MelFilterbankOptions,
} from './filterbanks.js';
export {
  decodeWav,
  encodeWav,
  writeWav,
  loadAudio,
  toMono,
  resample,
  streamResampler,
  pcm16ToFloat,
  concatSamples,
  type StreamResampler,
  type ResampleQuality,
  type Audio,
  type EncodeWavOptions,
  type LoadAudioOptions,
} from './wav.js';
export {
  editCounts,
  editAlignment,
  wordErrorRate,
  charErrorRate,
  type EditCounts,
  type EditOperation,
  type ErrorRateOptions,
} from './metrics.js';
export {
  partialLatencies,
  type FeedObservation,
  type WordLatency,
  type LatencyReport,
} from './latency.js';
export {
  ctcLoss,
  ctcPadded,
  CTC,
  type CtcPaddedOptions,
  ctcGreedyDecode,
  ctcPrefixBeamSearch,
  type CtcLossOptions,
  type CtcBeamSearchOptions,
  type CtcHypothesis,
  type FrameScores,
} from './ctc.js';
export {
  addNoise,
  applyGain,
  timeShift,
  fitLength,
  changeSpeed,
  reverberate,
  specAugment,
  type SpecAugmentOptions,
} from './augment.js';
export { synthesize, espeakVariants, voiceId, mapConcurrent, type Voice } from './synth.js';
export {
  AsrModel,
  StreamingRecognizer,
  convAsrModel,
  type ConvAsrOptions,
  asrFeatures,
  ASR_ALPHABET,
  type AsrSpec,
  type AsrResult,
  type WordTiming,
  type StreamingOptions,
} from './streaming.js';
export {
  ASR_ACCENTS,
  ASR_TRAIN_VARIANTS,
  ASR_HELD_OUT_VARIANTS,
  asrTrainingVoice,
  speakClips,
  asrTrainingSet,
  compileAsrModel,
  saveAsrModel,
  type SpokenClip,
  type SpeakOptions,
  type AsrTrainingSetOptions,
  type AsrTrainingSet,
  type CompileAsrOptions,
} from './asr-training.js';
export {
  speechFolder,
  librispeech,
  speechCommands,
  commonVoice,
  readSpeechAudio,
  speechClips,
  type SpeechCorpus,
  type SpeechCorpusFormat,
  type SpeechItem,
  type SpeechFolderOptions,
  type SpeechClipOptions,
} from './corpus.js';
export {
  KeywordDetector,
  type KeywordDetectorOptions,
  type KeywordDetection,
  type WindowScorer,
} from './keywords.js';
