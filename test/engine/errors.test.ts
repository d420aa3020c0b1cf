/**
 * The typed errors users branch on: thrown at their real sites, caught through the package's
 * exports, told apart with `instanceof` and with the stable `code` and `name`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  BadRequestError,
  DataNotFoundError,
  DtypeError,
  LeptonError,
  ModelNotFoundError,
  ShapeError,
  UnsupportedOnnxError,
  importOnnx,
  iris,
  loadModel,
  logicalAnd,
  matmul,
  tensor,
} from '../../src/index.js';
import { Registry } from '../../src/registry/registry.js';
import { parseTensor } from '../../src/serve/index.js';

/** What a caller's catch block sees. */
async function caught(f: () => unknown): Promise<Error & { code?: string }> {
  try {
    await f();
  } catch (e) {
    return e as Error & { code?: string };
  }
  throw new Error('expected a throw');
}

describe('typed errors', () => {
  it('op shape and dtype errors: ShapeError / DtypeError, each a LeptonError and an Error', async () => {
    const shape = await caught(() => matmul(tensor([[1, 2, 3]]), tensor([[1, 2, 3]])));
    expect(shape).toBeInstanceOf(ShapeError);
    expect(shape).toBeInstanceOf(LeptonError);
    expect(shape).toBeInstanceOf(Error);
    expect(shape).not.toBeInstanceOf(DtypeError);
    expect([shape.name, shape.code]).toEqual(['ShapeError', 'ERR_LEPTON_SHAPE']);
    expect(shape.message).toMatch(/^matmul: inner dimensions differ/);

    const dtype = await caught(() => logicalAnd(tensor([1, 2]), tensor([1, 2])));
    expect(dtype).toBeInstanceOf(DtypeError);
    expect(dtype).not.toBeInstanceOf(ShapeError);
    expect([dtype.name, dtype.code]).toEqual(['DtypeError', 'ERR_LEPTON_DTYPE']);
  });

  it('a data set that is not there: DataNotFoundError saying how to get it', async () => {
    const e = await caught(() => iris({ path: '/nonexistent/lepton-data' }));
    expect(e).toBeInstanceOf(DataNotFoundError);
    expect([e.name, e.code]).toEqual(['DataNotFoundError', 'ERR_LEPTON_DATA_NOT_FOUND']);
    expect(e.message).toMatch(/python3-sklearn/);
  });

  it('an ONNX op Lepton cannot import: UnsupportedOnnxError naming it', async () => {
    const info = (name: string) => ({
      name,
      type: { tensor_type: { elem_type: 1, shape: { dim: [{ dim_value: 2 }] } } },
    });
    const e = await caught(() =>
      importOnnx({
        ir_version: 8,
        opset_import: [{ domain: '', version: 13 }],
        graph: {
          name: 'g',
          node: [{ op_type: 'FrobnicateTensor', input: ['x'], output: ['y'] }],
          input: [info('x')],
          output: [info('y')],
          initializer: [],
        },
      }),
    );
    expect(e).toBeInstanceOf(UnsupportedOnnxError);
    expect([e.name, e.code, (e as UnsupportedOnnxError).opType]).toEqual([
      'UnsupportedOnnxError',
      'ERR_LEPTON_UNSUPPORTED_ONNX',
      'FrobnicateTensor',
    ]);
  });

  it('a model that does not exist: ModelNotFoundError from loadModel and the registry', async () => {
    const folder = await caught(() => loadModel('/nonexistent/lepton-model'));
    expect(folder).toBeInstanceOf(ModelNotFoundError);
    expect([folder.name, folder.code]).toEqual(['ModelNotFoundError', 'ERR_LEPTON_MODEL_NOT_FOUND']);
    const home = mkdtempSync(join(tmpdir(), 'lepton-errors-'));
    const registry = new Registry(home);
    try {
      const registered = await caught(() => registry.getModel('no-such-model'));
      expect(registered).toBeInstanceOf(ModelNotFoundError);
      expect(registered.message).toMatch(/no registered model 'no-such-model'/);
      expect(registry.findModel('no-such-model')).toBeUndefined();
    } finally {
      registry.close();
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('a malformed request: BadRequestError with its HTTP status', async () => {
    const e = await caught(() =>
      parseTensor('not a tensor', { name: 'x', shape: [null, 2], dtype: 'float32' }, { maxRows: 10, maxElements: 100 }),
    );
    expect(e).toBeInstanceOf(BadRequestError);
    expect([e.name, e.code, (e as BadRequestError).statusCode]).toEqual([
      'BadRequestError',
      'ERR_LEPTON_BAD_REQUEST',
      400,
    ]);
  });
});
