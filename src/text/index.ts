/** lepton/text: tokenizers, text metrics, text data helpers and text layers' companions. */
// Installs ONNX Runtime as the executor of ops on concrete tensors (engine/index.ts is the composition root).
import '../engine/index.js';
export {
  Tokenizer,
  type Encoding,
  type EncodeOptions,
  type PaddingOptions,
  type TruncationOptions,
  type TextInput,
} from './tokenizer.js';
export { trainTokenizer, type TokenizerKind, type TrainTokenizerOptions } from './train-tokenizer.js';
export {
  corpusBleu,
  sentenceBleu,
  corpusChrf,
  sentenceChrf,
  tokenize13a,
  SACREBLEU_VERSION,
  type BleuOptions,
  type BleuScore,
  type BleuSmoothing,
  type ChrfOptions,
  type ChrfScore,
} from './metrics.js';
export {
  TextVectorization,
  type TextVectorizationOptions,
  type Standardize,
  type Split,
  type VectorizationOutput,
} from './vectorization.js';
export {
  textLines,
  jsonLines,
  csvColumns,
  padSequences,
  bucketByLength,
  type Bucket,
  type BucketOptions,
} from './data.js';
export { unserializeR, readLazyLoadDB, type RValue, type RList } from './rdata.js';
export { loadJaneAusten, joinParagraphs, type AustenNovel } from './austen.js';
export {
  causalLanguageModel,
  sequenceClassifier,
  transferBackbone,
  type BackboneOptions,
} from './models.js';
export {
  softmaxWithTemperature,
  topKFilter,
  topPFilter,
  argmax,
  samplingDistribution,
  drawIndex,
  sampleNextToken,
  generateTokens,
  type SamplingOptions,
  type GenerateOptions,
  type CausalLM,
} from './sampling.js';
export {
  pipeline,
  saveTextModel,
  saveTranslationModel,
  classifyTexts,
  generateText,
  type TokenModelRunner,
  type TokenSource,
  type PipelineTask,
  type TextPreprocessing,
  type ClassificationOutput,
  type GenerationOutput,
  type ClassificationOptions,
  type GenerationOptions,
  type TextClassificationPipeline,
  type TextGenerationPipeline,
  type TranslationPipeline,
  type TranslationOptions,
  type TranslationOutput,
} from './pipeline.js';
export {
  loadBibleParallel,
  parseDiatheke,
  cleanOsis,
  alignVerses,
  splitByBook,
  verseRef,
  BIBLE_BOOKS,
  DEFAULT_TEST_BOOKS,
  DEFAULT_DEV_BOOKS,
  type Verse,
  type VersePair,
  type BibleOptions,
  type BibleSplit,
} from './bible.js';
export { Seq2SeqTransformer, paddingMask, type Seq2SeqOptions } from './seq2seq.js';
export {
  greedySearch,
  beamSearch,
  lengthPenalty,
  Seq2SeqDecoding,
  CausalLMDecoding,
  causalLMScorer,
  DECODING_SESSION,
  topTokens,
  type TopTokens,
  type NextTokenScorer,
  type SearchOptions,
  type BeamSearchOptions,
  type Seq2SeqScorerOptions,
} from './generate.js';
