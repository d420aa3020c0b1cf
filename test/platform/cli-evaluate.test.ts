/**
 * `lepton evaluate` records what the studio draws: a registered classifier's confusion matrix
 * (against counts from a plain-loop reference of the model) and PR curves; a detector evaluated on
 * a COCO annotations file (synthetic scenes) gets the COCO numbers of its own detections, PR curves
 * and a detection confusion matrix in which every object is counted once. Folders and --no-record
 * record nothing.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodePixels } from '../../src/index.js';
import { openRegistry } from '../../src/registry/registry.js';
import {
  type CocoDataset,
  type CocoDetection,
  FcosDetector,
  evaluateCocoBoxes,
  writeSceneDataset,
} from '../../src/vision/index.js';
import { cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';
import { makeTabularModel, softmaxReference, tabularReference } from './fixtures.js';

let root: string;
let tabularDir: string;
let detectorDir: string;
let scenes: CocoDataset;
let runId: number;
const classes = ['circle', 'square', 'triangle'] as const;

beforeAll(async () => {
  root = tempDir('lepton-cli-evaluate-');
  process.env.LEPTON_HOME = join(root, 'home');
  const registry = openRegistry();
  runId = registry.createRun('tabular', {});
  registry.finishRun(runId, 'completed');
  tabularDir = await makeTabularModel(join(root, 'tabular'), { labels: ['a', 'b', 'c'] });
  await registry.registerModel(tabularDir, { name: 'tab', runId });
  scenes = await writeSceneDataset(join(root, 'scenes'), {
    count: 6,
    seed: 4,
    width: 64,
    height: 64,
    classes,
    minSize: 12,
    maxSize: 30,
  });
  const detector = new FcosDetector({
    numClasses: 3,
    imageSize: [64, 64],
    strides: [16, 32],
    classNames: [...classes],
  });
  detectorDir = join(root, 'det');
  await detector.save(detectorDir);
  await registry.registerModel(detectorDir, { name: 'det' });
}, 120_000);

afterAll(() => openRegistry().close());

describe('lepton evaluate records evaluations', () => {
  it("records a registered classifier's confusion matrix and PR curves (for the model and its run)", async () => {
    const rows = [
      [1, 2, 3, 4, 2],
      [0, 0, 1, 0, 0],
      [5, 0, 0, 0, 0],
      [0, 1, 0, 0, 1],
      [2, 2, 0, 1, 1],
      [0, 3, 1, 0, 2],
    ];
    const csv = join(root, 'eval.csv');
    writeFileSync(csv, rows.map((r) => r.join(',')).join('\n'));
    const r = await cli('evaluate', 'tab', csv, '--json');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.out);
    expect(out.evaluationId).toBeGreaterThan(0);
    // Counts from the model's maths in plain loops: true label row, argmax column.
    const want = [0, 1, 2].map(() => [0, 0, 0]);
    tabularReference(rows.map((row) => row.slice(0, 4)))
      .map(softmaxReference)
      .forEach((p, i) => want[rows[i][4]][p.indexOf(Math.max(...p))]++);
    const [recorded] = openRegistry().evaluations({ model: 'tab' });
    expect(recorded).toMatchObject({ id: out.evaluationId, version: 1, runId, dataset: csv });
    expect(recorded.report.confusion).toEqual({ labels: ['a', 'b', 'c'], counts: want });
    expect(recorded.report.prCurves[0].curves.map((c) => c.name)).toEqual(['a', 'b', 'c']);
    expect(openRegistry().evaluations({ runId })).toHaveLength(1);
    expect((await cli('evaluate', 'tab', csv)).out).toMatch(
      /recorded evaluation \d+: the studio shows it at \/models\/tab and \/runs\/\d+/,
    );
  });

  it('records nothing for a model folder or with --no-record', async () => {
    const csv = join(root, 'one.csv');
    writeFileSync(csv, '1,2,3,4,0\n');
    const before = openRegistry().evaluations().length;
    expect(JSON.parse((await cli('evaluate', tabularDir, csv, '--json')).out).evaluationId).toBeUndefined();
    expect((await cli('evaluate', 'tab', csv, '--no-record')).code).toBe(0);
    expect(openRegistry().evaluations()).toHaveLength(before);
  });

  it('evaluates a detector on a COCO annotations file: COCO numbers, PR curves, confusion matrix', async () => {
    const annotations = join(root, 'scenes', 'annotations.json');
    const r = await cli('evaluate', 'det', annotations, '--json', '--score', '0.06');
    expect(r.code, r.err).toBe(0);
    const out = JSON.parse(r.out);
    // The detections of the same detector, made here image by image, scored by the COCO evaluator.
    const detector = await FcosDetector.load(detectorDir);
    const dets: CocoDetection[] = [];
    for (const im of scenes.images) {
      const found = await detector.detect(
        await decodePixels(join(root, 'scenes', 'images', im.file_name), { channels: 3 }),
      );
      for (const d of found)
        dets.push({
          image_id: im.id,
          category_id: d.label + 1,
          bbox: [d.box[0], d.box[1], d.box[2] - d.box[0], d.box[3] - d.box[1]],
          score: d.score,
        });
    }
    expect(dets.length).toBeGreaterThan(0);
    const coco = evaluateCocoBoxes(scenes, dets);
    expect(out.images).toBe(6);
    expect(out.metrics.map).toBeCloseTo(coco.summary.map, 9);
    expect(out.metrics.map50).toBeCloseTo(coco.summary.map50, 9);
    const { confusion, prCurves } = out.report;
    expect(confusion.labels).toEqual([...classes, 'background']);
    expect(confusion.scoreThreshold).toBe(0.06);
    // Every object is counted once in its class's row; the background row holds only false detections.
    const objects = classes.map((_, k) => scenes.annotations.filter((a) => a.category_id === k + 1).length);
    expect(confusion.counts.slice(0, 3).map((row: number[]) => row.reduce((s, v) => s + v, 0))).toEqual(objects);
    expect(confusion.counts[3][3]).toBe(0);
    // …and every detection at or above the score is counted once: matched (a class column of a class
    // row) or false (the background row); there are no crowd regions here.
    const kept = dets.filter((d) => d.score >= 0.06).length;
    expect(kept).toBeGreaterThan(0);
    const predicted = confusion.counts.reduce((s: number, row: number[]) => s + row[0] + row[1] + row[2], 0);
    expect(predicted).toBe(kept);
    expect(prCurves.map((s: { label: string }) => s.label)).toEqual(['IoU 0.5', 'IoU 0.5:0.95 (mean)']);
    const [recorded] = openRegistry().evaluations({ model: 'det' });
    expect(recorded.id).toBe(out.evaluationId);
    expect(recorded.report.task).toBe('detection');
  });

  it('says what a detector needs when given something else', async () => {
    const r = await cli('evaluate', 'det', 'mnist');
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/'det' is a detector: <data> must be a COCO annotations \.json file, got 'mnist'/);
  });
});
