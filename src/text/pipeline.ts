/**
 * `pipeline(task, modelDir)`: loads a text model saved by Lepton together with the tokenizer.json
 * beside it and returns a function with Transformers.js-shaped outputs —
 * `[{label, score}]` for text classification / sentiment analysis, `[{generated_text}]` for text
 * generation. `saveTextModel` writes such a folder: the model (saveModel) with a `preprocessing`
 * entry {kind: 'text', task, tokenizer: 'tokenizer.json', sequenceLength, eosId?} in config.json.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type Tensor, tensor } from '../engine/index.js';
import type { Model, Sequential } from '../nn/model.js';
import { Embedding } from '../nn/layers/embedding.js';
import { TokenAndPositionEmbedding } from '../nn/layers/transformer.js';
import { type TrainableModel } from '../train/compile-spec.js';
import { loadModel, readModelConfig, saveModel } from '../train/save.js';
// Installs predict on Model (the pipeline may be the only thing a program imports).
import '../train/trainer.js';
import { type SamplingOptions, generateTokens, softmaxWithTemperature } from './sampling.js';
import { CausalLMDecoding, Seq2SeqDecoding, beamSearch, greedySearch } from './generate.js';
import { Seq2SeqTransformer } from './seq2seq.js';
import { Tokenizer } from './tokenizer.js';

export type PipelineTask = 'text-classification' | 'sentiment-analysis' | 'text-generation' | 'translation';
type ModelTask = 'text-classification' | 'text-generation' | 'translation';

/** The `preprocessing` entry of a text model's config.json. */
export interface TextPreprocessing {
  kind: 'text';
  task: ModelTask;
  /** File name of the tokenizer inside the model folder. */
  tokenizer: string;
  /** The model's input length: classification pads/truncates to it; generation uses it as the context window. */
  sequenceLength: number;
  /** End-of-text id: generation stops after it and starts from it when the prompt is empty. */
  eosId?: number;
  /** What the classifier returns (default 'logits'; 'probabilities' when it ends in a softmax). */
  outputs?: 'logits' | 'probabilities';
  /** Translation: the target language's tokenizer file (`tokenizer` is the source language's). */
  targetTokenizer?: string;
  /** Translation: the target's start-of-sequence id (decoding starts from it). */
  bosId?: number;
}

export interface ClassificationOutput {
  label: string;
  score: number;
}
export interface GenerationOutput {
  generated_text: string;
}

export interface ClassificationOptions {
  /** How many labels to return per text, most likely first (default 1). */
  topK?: number;
}
export interface GenerationOptions extends SamplingOptions {
  /** Tokens to add (default 50). */
  maxNewTokens?: number;
  /** Called with the text of each new token as it is generated. */
  onText?: (text: string) => void | Promise<void>;
  /** Stops generation before the next token when aborted; the call rejects with the signal's reason. */
  signal?: AbortSignal;
}

export interface TextClassificationPipeline {
  (text: string, options?: ClassificationOptions): Promise<ClassificationOutput[]>;
  (texts: string[], options?: ClassificationOptions): Promise<ClassificationOutput[] | ClassificationOutput[][]>;
  readonly task: 'text-classification' | 'sentiment-analysis';
  readonly model: Model;
  readonly tokenizer: Tokenizer;
}
export interface TranslationOutput {
  translation_text: string;
}
export interface TranslationOptions {
  /** Beam width (default 1: greedy search). */
  numBeams?: number;
  /** Most tokens per translation (default: 1.5 × the source's tokens + 10, within the model's maxLength). */
  maxNewTokens?: number;
  /** α of the beam's length penalty (default 0.6). */
  lengthPenalty?: number;
}
export interface TranslationPipeline {
  (text: string, options?: TranslationOptions): Promise<TranslationOutput[]>;
  (texts: string[], options?: TranslationOptions): Promise<TranslationOutput[]>;
  readonly task: 'translation';
  readonly model: Seq2SeqTransformer;
  readonly tokenizer: Tokenizer;
  readonly targetTokenizer: Tokenizer;
}
export interface TextGenerationPipeline {
  (prompt: string, options?: GenerationOptions): Promise<GenerationOutput[]>;
  readonly task: 'text-generation';
  readonly model: Model;
  readonly tokenizer: Tokenizer;
}

/** Saves a text model with its tokenizer so `pipeline` can load it (labels: class names for classifiers). */
export async function saveTextModel(
  model: TrainableModel,
  tokenizer: Tokenizer,
  dir: string,
  options: Omit<TextPreprocessing, 'kind' | 'tokenizer'> & { labels?: string[] },
): Promise<void> {
  const { labels, ...rest } = options;
  const preprocessing: TextPreprocessing = { kind: 'text', tokenizer: 'tokenizer.json', ...rest };
  await saveModel(model, dir, { labels, preprocessing: { ...preprocessing } });
  tokenizer.save(join(dir, preprocessing.tokenizer));
}

/**
 * Saves an encoder–decoder translation model with its source and target tokenizers so
 * `pipeline('translation', dir)` can load it. `bosId`/`eosId` are the target's start and end ids.
 */
export async function saveTranslationModel(
  model: Seq2SeqTransformer,
  sourceTokenizer: Tokenizer,
  targetTokenizer: Tokenizer,
  dir: string,
  options: { bosId: number; eosId: number },
): Promise<void> {
  const preprocessing: TextPreprocessing = {
    kind: 'text',
    task: 'translation',
    tokenizer: 'source-tokenizer.json',
    targetTokenizer: 'target-tokenizer.json',
    sequenceLength: model.config.maxLength,
    bosId: options.bosId,
    eosId: options.eosId,
  };
  const T = model.config.maxLength;
  await saveModel(model, dir, {
    preprocessing: { ...preprocessing },
    inputs: [
      { name: 'source', shape: [null, T], dtype: 'int32' },
      { name: 'target', shape: [null, T], dtype: 'int32' },
    ],
  });
  sourceTokenizer.save(join(dir, 'source-tokenizer.json'));
  targetTokenizer.save(join(dir, 'target-tokenizer.json'));
}

/** Rows of the model's token table (the first embedding layer), to check the tokenizer against. */
function embeddingRows(model: Model): number | undefined {
  for (const layer of model.layers) {
    if (layer instanceof TokenAndPositionEmbedding) return layer.vocabularySize;
    if (layer instanceof Embedding) return layer.inputDim;
  }
  return undefined;
}

export async function pipeline(
  task: 'text-classification' | 'sentiment-analysis',
  modelDir: string,
): Promise<TextClassificationPipeline>;
export async function pipeline(task: 'text-generation', modelDir: string): Promise<TextGenerationPipeline>;
export async function pipeline(task: 'translation', modelDir: string): Promise<TranslationPipeline>;
export async function pipeline(
  task: PipelineTask,
  modelDir: string,
): Promise<TextClassificationPipeline | TextGenerationPipeline | TranslationPipeline>;
export async function pipeline(
  task: PipelineTask,
  modelDir: string,
): Promise<TextClassificationPipeline | TextGenerationPipeline | TranslationPipeline> {
  const who = `pipeline('${task}')`;
  const wanted: ModelTask | undefined =
    task === 'text-classification' || task === 'sentiment-analysis'
      ? 'text-classification'
      : task === 'text-generation' || task === 'translation'
        ? task
        : undefined;
  if (!wanted)
    throw new Error(
      `pipeline: unknown task '${String(task)}'; expected 'text-classification', 'sentiment-analysis', 'text-generation' or 'translation'`,
    );
  const config = (await readModelConfig(modelDir)) as Awaited<ReturnType<typeof readModelConfig>> & {
    preprocessing?: Partial<TextPreprocessing> & { kind?: string };
  };
  const pre = config.preprocessing;
  if (pre?.kind !== 'text' || typeof pre.tokenizer !== 'string' || !Number.isInteger(pre.sequenceLength))
    throw new Error(
      `${who}: ${join(modelDir, 'config.json')} has no text preprocessing entry ({kind: 'text', task, tokenizer, sequenceLength}); ` +
        'save text models with saveTextModel(model, tokenizer, dir, {...})',
    );
  if (pre.task !== wanted)
    throw new Error(`${who}: ${modelDir} holds a '${pre.task}' model; this task needs a '${wanted}' model`);
  const tokenizerPath = join(modelDir, pre.tokenizer);
  if (!existsSync(tokenizerPath)) throw new Error(`${who}: the tokenizer ${tokenizerPath} is missing`);
  const tokenizer = Tokenizer.load(tokenizerPath);
  const model = await loadModel(modelDir);
  const rows = embeddingRows(model);
  if (rows !== undefined && tokenizer.vocabSize > rows)
    throw new Error(
      `${who}: ${tokenizerPath} has ${tokenizer.vocabSize} tokens but the model's embedding has ${rows} rows — a tokenizer from another vocabulary?`,
    );
  const fields = { task, model, tokenizer };

  if (wanted === 'translation') return translationPipeline(model, tokenizer, modelDir, pre as TextPreprocessing, who);

  if (wanted === 'text-classification') {
    const labels = config.labels;
    const predictRows = predictWith(model);
    const run = async (input: string | string[], options: ClassificationOptions = {}) => {
      const texts = typeof input === 'string' ? [input] : input;
      const results = await classifyTexts(predictRows, tokenizer, pre as TextPreprocessing, texts, {
        labels,
        topK: options.topK,
        who,
      });
      // Transformers.js: one list per text, flattened when one label per text was asked for
      if (typeof input === 'string') return results[0];
      return (options.topK ?? 1) === 1 ? results.map((r) => r[0]) : results;
    };
    return Object.assign(run, fields) as unknown as TextClassificationPipeline;
  }

  // Models built like causalLanguageModel decode with a key/value cache; others rerun the model.
  const source: TokenSource = CausalLMDecoding.unsupported(model)
    ? predictWith(model)
    : { decoding: new CausalLMDecoding(model as Sequential) };
  const run = async (prompt: string, options: GenerationOptions = {}): Promise<GenerationOutput[]> => [
    { generated_text: await generateText(source, tokenizer, pre as TextPreprocessing, prompt, options, who) },
  ];
  return Object.assign(run, fields) as unknown as TextGenerationPipeline;
}

/** Runs a text model on token ids [rows, sequenceLength]: its first output as a float32 array and shape. */
export type TokenModelRunner = (ids: Int32Array, rows: number) => Promise<{ data: Float32Array; shape: number[] }>;

/** What generateText runs: a TokenModelRunner (whole contexts), or incremental decoding with a key/value cache. */
export type TokenSource = TokenModelRunner | { decoding: CausalLMDecoding };

/** `model.predict` as a TokenModelRunner (the pipeline's; the model server runs its own sessions). */
function predictWith(model: Model): TokenModelRunner {
  return async (ids, rows) => {
    const y = await model.predict(tensor(ids, { shape: [rows, ids.length / rows] }), { verbose: 0 });
    const out = (Array.isArray(y) ? y[0] : y) as Tensor;
    return { data: out.data as Float32Array, shape: out.shape as number[] };
  };
}

/**
 * Each text's token ids without padding (id 0 pads these models, and a tokenizer.json that pads
 * adds it), truncated to `limit`; a text with no tokens is an error naming `who`.
 */
async function tokenIds(
  tokenizer: Tokenizer,
  texts: readonly string[],
  limit: number,
  who: string,
): Promise<number[][]> {
  return (await tokenizer.encodeBatch([...texts])).map((e, i) => {
    const ids = e.ids.filter((id) => id !== 0).slice(0, limit);
    if (ids.length === 0) throw new Error(`${who}: text ${i} (${JSON.stringify(texts[i])}) has no tokens`);
    return ids;
  });
}

/**
 * Labels with scores, most likely first, for each text: tokenized, truncated to the model's
 * sequence length and right-padded with 0 (these models mask id 0), then softmax over the
 * model's logits (or its probabilities when the folder says so). Errors name `who`.
 */
export async function classifyTexts(
  run: TokenModelRunner,
  tokenizer: Tokenizer,
  pre: TextPreprocessing,
  texts: readonly string[],
  options: { labels?: string[]; topK?: number; who?: string } = {},
): Promise<ClassificationOutput[][]> {
  const who = options.who ?? 'classifyTexts';
  if (!Array.isArray(texts) || texts.length === 0 || texts.some((s) => typeof s !== 'string'))
    throw new Error(`${who}: expected a string or a non-empty array of strings`);
  const t = pre.sequenceLength;
  const topK = options.topK ?? 1;
  const x = new Int32Array(texts.length * t);
  (await tokenIds(tokenizer, texts, t, who)).forEach((ids, i) => x.set(ids, i * t));
  const y = await run(x, texts.length);
  const k = y.shape[1];
  const labels = options.labels;
  if (labels && labels.length !== k)
    throw new Error(`${who}: the model has ${k} outputs but config.json lists ${labels.length} labels`);
  if (!Number.isInteger(topK) || topK < 1 || topK > k)
    throw new Error(`${who}: topK must be an integer in 1..${k}, got ${topK}`);
  return texts.map((_, i) => {
    const row = y.data.subarray(i * k, (i + 1) * k);
    const p = pre.outputs === 'probabilities' ? Float64Array.from(row) : softmaxWithTemperature(row);
    return Array.from(p, (score, j) => ({ label: labels?.[j] ?? `LABEL_${j}`, score }))
      .sort((a, b) => b.score - a.score)
      .slice(0, topK);
  });
}

/**
 * The prompt followed by up to maxNewTokens generated tokens (greedy unless sampling is asked
 * for); `onText` gets each token's text as it comes, `signal` stops generation early.
 */
export async function generateText(
  run: TokenSource,
  tokenizer: Tokenizer,
  pre: TextPreprocessing,
  prompt: string,
  options: GenerationOptions = {},
  who = 'generateText',
): Promise<string> {
  if (typeof prompt !== 'string') throw new Error(`${who}: expected a prompt string, got ${typeof prompt}`);
  const { maxNewTokens = 50, onText, ...sampling } = options;
  const promptIds = prompt ? (await tokenizer.encode(prompt)).ids : [];
  if (promptIds.length === 0) {
    if (pre.eosId === undefined)
      throw new Error(`${who}: the prompt is empty and the model folder names no eosId to start from`);
    promptIds.push(pre.eosId);
  }
  const lm =
    typeof run === 'function'
      ? {
          predict: async (x: Tensor) => {
            const y = await run(x.data as Int32Array, x.shape[0] as number);
            return tensor(y.data, { shape: y.shape });
          },
        }
      : await run.decoding.scorer();
  const ids = await generateTokens(lm, promptIds, {
    doSample: false,
    ...sampling,
    maxNewTokens,
    sequenceLength: pre.sequenceLength,
    eosId: pre.eosId,
    onToken: onText ? async (id) => onText(await tokenizer.decode([id], { skipSpecialTokens: true })) : undefined,
  });
  return prompt + (await tokenizer.decode(ids, { skipSpecialTokens: true }));
}

async function translationPipeline(
  model: Model,
  tokenizer: Tokenizer,
  modelDir: string,
  pre: TextPreprocessing,
  who: string,
): Promise<TranslationPipeline> {
  if (!(model instanceof Seq2SeqTransformer))
    throw new Error(`${who}: ${modelDir} holds a ${model.constructor.name}, not a Seq2SeqTransformer`);
  if (!pre.targetTokenizer || pre.bosId === undefined || pre.eosId === undefined)
    throw new Error(
      `${who}: ${join(modelDir, 'config.json')} lacks targetTokenizer/bosId/eosId; save translation models with saveTranslationModel`,
    );
  const targetPath = join(modelDir, pre.targetTokenizer);
  if (!existsSync(targetPath)) throw new Error(`${who}: the target tokenizer ${targetPath} is missing`);
  const targetTokenizer = Tokenizer.load(targetPath);
  const { sourceVocabSize, targetVocabSize, maxLength } = model.config;
  for (const [t, rows, side] of [
    [tokenizer, sourceVocabSize, 'source'],
    [targetTokenizer, targetVocabSize, 'target'],
  ] as const)
    if (t.vocabSize > rows)
      throw new Error(
        `${who}: the ${side} tokenizer has ${t.vocabSize} tokens but the model's ${side} vocabulary ${rows} — a tokenizer from another vocabulary?`,
      );
  const decoding = new Seq2SeqDecoding(model);
  const bos = pre.bosId,
    eos = pre.eosId;
  const run = async (input: string | string[], options: TranslationOptions = {}): Promise<TranslationOutput[]> => {
    const texts = typeof input === 'string' ? [input] : input;
    if (!Array.isArray(texts) || texts.length === 0 || texts.some((s) => typeof s !== 'string'))
      throw new Error(`${who}: expected a string or a non-empty array of strings`);
    const beams = options.numBeams ?? 1;
    if (!Number.isInteger(beams) || beams < 1) throw new Error(`${who}: numBeams must be an integer ≥ 1, got ${beams}`);
    const sources = await tokenIds(tokenizer, texts, maxLength, who);
    const longest = Math.max(...sources.map((s) => s.length));
    const limit = Math.min(maxLength - 1, options.maxNewTokens ?? Math.ceil(1.5 * longest) + 10);
    const scorer = await decoding.scorer(sources);
    const search = { bos, eos, maxLength: limit };
    const tokens =
      beams === 1
        ? await greedySearch(scorer, sources.length, search)
        : await beamSearch(scorer, sources.length, {
            ...search,
            beamWidth: beams,
            lengthPenalty: options.lengthPenalty ?? 0.6,
          });
    const decoded = await targetTokenizer.decodeBatch(tokens);
    return decoded.map((t) => ({ translation_text: t.trim() }));
  };
  return Object.assign(run, { task: 'translation' as const, model, tokenizer, targetTokenizer }) as TranslationPipeline;
}
