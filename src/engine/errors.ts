/**
 * The errors users branch on. Each is an Error with a stable `name` and `code` (and `instanceof`
 * works across the package), thrown where the condition is detected: op shape and dtype checks,
 * data loaders, the ONNX importer, model lookups and the server's request parsing. Engine level,
 * so every layer can import it; exported from the package root.
 */

export type LeptonErrorCode =
  | 'ERR_LEPTON_SHAPE'
  | 'ERR_LEPTON_DTYPE'
  | 'ERR_LEPTON_DATA_NOT_FOUND'
  | 'ERR_LEPTON_DATA_FORMAT'
  | 'ERR_LEPTON_UNSUPPORTED_ONNX'
  | 'ERR_LEPTON_MODEL_NOT_FOUND'
  | 'ERR_LEPTON_BAD_REQUEST';

/** The common base: `e instanceof LeptonError` tells Lepton's typed errors from any other. */
export class LeptonError extends Error {
  constructor(
    readonly code: LeptonErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** An op's inputs or arguments do not fit it: shapes, ranks, axes, attribute values. */
export class ShapeError extends LeptonError {
  constructor(message: string) {
    super('ERR_LEPTON_SHAPE', message);
    this.name = 'ShapeError';
  }
}

/** An op does not support the inputs' dtypes (or needs them to agree). */
export class DtypeError extends LeptonError {
  constructor(message: string) {
    super('ERR_LEPTON_DTYPE', message);
    this.name = 'DtypeError';
  }
}

/** A data set is neither where it was looked for nor downloadable; the message says how to get it. */
export class DataNotFoundError extends LeptonError {
  constructor(message: string) {
    super('ERR_LEPTON_DATA_NOT_FOUND', message);
    this.name = 'DataNotFoundError';
  }
}

/** A data set's files are there but do not follow its format: a missing column, a file without its
 *  transcript line, a listed file that is absent. The message names the file and line. */
export class DataFormatError extends LeptonError {
  constructor(message: string) {
    super('ERR_LEPTON_DATA_FORMAT', message);
    this.name = 'DataFormatError';
  }
}

/** The ONNX model uses something Lepton cannot import (an op type, an attribute value, a dtype). */
export class UnsupportedOnnxError extends LeptonError {
  constructor(
    readonly opType: string,
    message: string,
  ) {
    super('ERR_LEPTON_UNSUPPORTED_ONNX', message);
    this.name = 'UnsupportedOnnxError';
  }
}

/** No model by that name (or version) in the registry or the server, or no model folder at a path. */
export class ModelNotFoundError extends LeptonError {
  /** What a server answers with. */
  readonly statusCode = 404;
  constructor(message: string) {
    super('ERR_LEPTON_MODEL_NOT_FOUND', message);
    this.name = 'ModelNotFoundError';
  }
}

/** A request to the server (or its CLI equivalent) is malformed or exceeds a limit. */
export class BadRequestError extends LeptonError {
  constructor(
    message: string,
    /** The HTTP status a server answers with (400, or 413/415 for size and content-type limits). */
    readonly statusCode = 400,
  ) {
    super('ERR_LEPTON_BAD_REQUEST', message);
    this.name = 'BadRequestError';
  }
}
