/**
 * ONNX conformance: runs the ONNX backend "node" test cases (Debian `libonnx-testdata`) whose ops
 * the importer supports. Each case is imported with importOnnx, traced and compiled into one graph
 * (compileSync), run, and compared with the expected outputs (rtol 1e-3 / atol 1e-7 for floats like
 * ONNX's backend tests, exact for integers and bools). Cases with unsupported ops or dtypes are
 * skipped, not failed.
 *
 *   npm run conformance -- [filter] [--verbose] [--json FILE] [--dir DIR] [--eager]
 */
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import '../src/engine/index.js'; // installs ONNX Runtime as the eager executor
import { DTYPES, ONNX_ELEM_TYPE, isFloat } from '../src/engine/dtype.js';
import { compileSync } from '../src/engine/compile.js';
import { ONNX_OPS, UnsupportedOnnxError, importOnnx, tensorFromProto } from '../src/engine/onnx/import.js';
import { type ModelProto, decodeModel, decodeTensorProto } from '../src/engine/onnx/proto.js';
import type { Tensor } from '../src/engine/tensor.js';

const DEFAULT_DIR = '/usr/share/libonnx-testdata/data/node';
const RTOL = 1e-3;
const ATOL = 1e-7;

interface Options {
  filter: string;
  verbose: boolean;
  json?: string;
  dir: string;
  eager: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { filter: '', verbose: false, dir: DEFAULT_DIR, eager: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--verbose' || a === '-v') o.verbose = true;
    else if (a === '--eager') o.eager = true;
    else if (a === '--json') o.json = argv[++i];
    else if (a === '--dir') o.dir = argv[++i];
    else if (a === '--help' || a === '-h') {
      console.log('usage: npm run conformance -- [filter] [--verbose] [--json FILE] [--dir DIR] [--eager]');
      process.exit(0);
    } else if (a.startsWith('-')) throw new Error(`conformance: unknown option ${a}`);
    else o.filter = a;
  }
  return o;
}

type Status = 'passed' | 'failed' | 'skipped';
interface CaseResult {
  name: string;
  op: string;
  status: Status;
  reason?: string;
  mode?: 'traced' | 'eager';
  ms: number;
}

class Skip extends Error {}

const SUPPORTED_CODES = new Set(DTYPES.map((d) => ONNX_ELEM_TYPE[d]));

/** The op a case is about: its single non-Constant op type, or the first one of an expanded graph. */
function caseOp(model: ModelProto): string {
  const types = [...new Set(model.graph.node.map((n) => n.op_type).filter((t) => t !== 'Constant'))];
  if (types.length === 0) return model.graph.node[0]?.op_type ?? '(empty)';
  return types.length === 1 ? types[0] : `${types[0]}+${types.length - 1}`;
}

function checkModelSupported(model: ModelProto): void {
  for (const n of model.graph.node) {
    if (n.domain && n.domain !== 'ai.onnx')
      throw new Skip(`op ${n.domain}::${n.op_type} is outside the default domain`);
    if (!ONNX_OPS[n.op_type]) throw new Skip(`op ${n.op_type} is not supported`);
    for (const a of n.attribute ?? [])
      if ((a as { g?: unknown }).g || (a as { graphs?: unknown[] }).graphs?.length)
        throw new Skip('subgraph attributes are not supported');
  }
  for (const v of [...model.graph.input, ...model.graph.output]) {
    const tt = v.type?.tensor_type;
    if (!tt) throw new Skip(`'${v.name}' is not a tensor (sequence/optional/map)`);
    if (!SUPPORTED_CODES.has(tt.elem_type))
      throw new Skip(`'${v.name}' has ONNX element type ${tt.elem_type}, which Lepton does not support`);
  }
  for (const t of model.graph.initializer ?? []) {
    if (!SUPPORTED_CODES.has(t.data_type))
      throw new Skip(`initializer '${t.name}' has ONNX element type ${t.data_type}`);
  }
}

function readTensor(path: string): Tensor {
  const proto = decodeTensorProto(readFileSync(path));
  if (!SUPPORTED_CODES.has(proto.data_type))
    throw new Skip(`${path.split('/').slice(-1)[0]} has ONNX element type ${proto.data_type}`);
  return tensorFromProto(proto, path);
}

function listPb(dir: string, prefix: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.startsWith(prefix) && f.endsWith('.pb'))
    .sort((a, b) => Number(a.slice(prefix.length, -3)) - Number(b.slice(prefix.length, -3)))
    .map((f) => join(dir, f));
}

/** Null when equal within tolerance, else the reason. */
function compare(got: Tensor, want: Tensor, index: number): string | null {
  if (got.dtype !== want.dtype) return `output ${index}: dtype ${got.dtype}, expected ${want.dtype}`;
  if (got.shape.join() !== want.shape.join()) return `output ${index}: shape [${got.shape}], expected [${want.shape}]`;
  const a = got.data;
  const b = want.data;
  let worst = -1;
  let worstErr = 0;
  for (let i = 0; i < b.length; i++) {
    if (isFloat(want.dtype)) {
      const x = a[i] as number;
      const y = b[i] as number;
      if (Number.isNaN(y) ? Number.isNaN(x) : x === y || Math.abs(x - y) <= ATOL + RTOL * Math.abs(y)) continue;
      const err = Number.isNaN(x) ? Infinity : Math.abs(x - y);
      if (worst < 0 || err > worstErr) [worst, worstErr] = [i, err];
    } else if (a[i] !== b[i]) {
      return `output ${index}: element ${i} is ${a[i]}, expected ${b[i]}`;
    }
  }
  if (worst < 0) return null;
  return `output ${index}: element ${worst} is ${a[worst]}, expected ${b[worst]} (|diff| ${worstErr.toExponential(2)}, rtol ${RTOL}, atol ${ATOL})`;
}

/** Traced mode bakes integer inputs in as constants: ONNX passes shapes/axes/indices that way. */
function runCase(model: ModelProto, inputs: Tensor[], eager: boolean): { outputs: Tensor[]; mode: 'traced' | 'eager' } {
  const specs = importOnnx(model).inputs;
  if (eager) return { outputs: importOnnx(model).fn(...inputs), mode: 'eager' };
  const constants: Record<string, Tensor> = {};
  const fed: Tensor[] = [];
  specs.forEach((s, i) =>
    isFloat(inputs[i].dtype) || inputs[i].dtype === 'bool' ? fed.push(inputs[i]) : (constants[s.name!] = inputs[i]),
  );
  const imported = importOnnx(model, { constants });
  try {
    return { outputs: compileSync(imported.fn)(...fed), mode: 'traced' };
  } catch (e) {
    // A float input that the graph needs as a value (e.g. Range bounds) cannot be traced: run eagerly.
    if (!/must be a constant/.test((e as Error).message)) throw e;
    return { outputs: importOnnx(model).fn(...inputs), mode: 'eager' };
  }
}

function runOne(dir: string, name: string, eager: boolean): CaseResult {
  const start = performance.now();
  let op = '?';
  const done = (status: Status, reason?: string, mode?: 'traced' | 'eager'): CaseResult => ({
    name,
    op,
    status,
    reason,
    mode,
    ms: performance.now() - start,
  });
  try {
    const model = decodeModel(readFileSync(join(dir, name, 'model.onnx')));
    op = caseOp(model);
    checkModelSupported(model);
    const sets = readdirSync(join(dir, name))
      .filter((f) => f.startsWith('test_data_set_'))
      .sort();
    if (sets.length === 0) throw new Skip('no test data sets');
    let mode: 'traced' | 'eager' = 'traced';
    for (const set of sets) {
      const setDir = join(dir, name, set);
      const inputs = listPb(setDir, 'input_').map(readTensor);
      const expected = listPb(setDir, 'output_').map(readTensor);
      const run = runCase(model, inputs, eager);
      mode = run.mode;
      if (run.outputs.length !== expected.length)
        return done('failed', `${set}: ${run.outputs.length} outputs, expected ${expected.length}`, mode);
      for (let i = 0; i < expected.length; i++) {
        const diff = compare(run.outputs[i], expected[i], i);
        if (diff) return done('failed', `${set}: ${diff}`, mode);
      }
    }
    return done('passed', undefined, mode);
  } catch (e) {
    if (e instanceof Skip) return done('skipped', e.message);
    if (e instanceof UnsupportedOnnxError) return done('skipped', e.message);
    const msg = ((e as Error).message ?? String(e)).split('\n')[0].slice(0, 400);
    // A Lepton op declaring a dtype unsupported (e.g. no ORT float64 kernel) is a skip, not a failure.
    if (/dtype \w+ is not supported/.test(msg)) return done('skipped', msg);
    return done('failed', msg);
  }
}

function main(): void {
  const options = parseArgs(process.argv.slice(2));
  if (!existsSync(options.dir)) {
    console.error(
      `conformance: ${options.dir} not found. Install the Debian package libonnx-testdata (apt-get install libonnx-testdata) or pass --dir.`,
    );
    process.exit(2);
  }
  const names = readdirSync(options.dir)
    .filter((n) => n.includes(options.filter) && existsSync(join(options.dir, n, 'model.onnx')))
    .sort();
  const t0 = performance.now();
  const results: CaseResult[] = [];
  for (const name of names) {
    const r = runOne(options.dir, name, options.eager);
    results.push(r);
    if (r.status === 'failed') console.log(`FAIL ${name} [${r.op}]: ${r.reason}`);
    else if (options.verbose)
      console.log(
        `${r.status === 'passed' ? 'ok  ' : 'skip'} ${name} [${r.op}]${r.reason ? `: ${r.reason}` : ''} (${r.ms.toFixed(0)} ms${r.mode ? `, ${r.mode}` : ''})`,
      );
  }

  const byOp = new Map<string, Record<Status, number>>();
  for (const r of results) {
    const key = r.op.replace(/\+\d+$/, '+…');
    const c = byOp.get(key) ?? { passed: 0, failed: 0, skipped: 0 };
    c[r.status]++;
    byOp.set(key, c);
  }
  const attempted = [...byOp].filter(([, c]) => c.passed + c.failed > 0).sort(([a], [b]) => a.localeCompare(b));
  if (attempted.length > 0) {
    console.log('\nper-op summary (ops with attempted cases):');
    console.log(`  ${'op'.padEnd(24)} ${'passed'.padStart(6)} ${'failed'.padStart(6)} ${'skipped'.padStart(7)}`);
    for (const [op, c] of attempted) {
      console.log(
        `  ${op.padEnd(24)} ${String(c.passed).padStart(6)} ${String(c.failed).padStart(6)} ${String(c.skipped).padStart(7)}`,
      );
    }
  }
  const unsupported = [...byOp]
    .filter(([, c]) => c.passed + c.failed === 0)
    .map(([op]) => op)
    .sort();
  if (unsupported.length > 0) console.log(`\nskipped entirely (${unsupported.length} ops): ${unsupported.join(', ')}`);

  const count = (s: Status) => results.filter((r) => r.status === s).length;
  const summary = { passed: count('passed'), failed: count('failed'), skipped: count('skipped') };
  const seconds = (performance.now() - t0) / 1000;
  if (options.json) {
    writeFileSync(
      options.json,
      JSON.stringify({ dir: options.dir, filter: options.filter, seconds, ...summary, cases: results }, null, 2),
    );
  }
  console.log(`\n(${results.length} cases in ${seconds.toFixed(1)} s)`);
  console.log(`${summary.passed} passed, ${summary.failed} failed, ${summary.skipped} skipped`);
  // CI runs this: any failed case fails the run, and so does a run in which nothing passed (an empty
  // or wrong --dir, or a filter matching nothing), which would otherwise look like success.
  if (summary.passed === 0) console.error('conformance: no case passed (check --dir and the filter)');
  process.exitCode = summary.failed > 0 || summary.passed === 0 ? 1 : 0;
}

main();
