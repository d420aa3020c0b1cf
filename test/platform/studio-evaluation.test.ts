/**
 * The studio's evaluation pictures, in Chromium: a recorded classifier evaluation and a detector
 * evaluation draw a precision–recall plot (one line per class, AP in the legend) and a confusion
 * matrix heatmap (class names on both axes, counts in the cells) on the model page, the run page
 * shows its model's evaluation, and the pictures load behind `--token`. The reports are built from
 * hand-made predictions whose counts are worked out below.
 */
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classificationReport } from '../../src/index.js';
import { Registry } from '../../src/registry/registry.js';
import type { ModelServer } from '../../src/serve/server.js';
import { createStudio } from '../../src/studio/server.js';
import { FcosDetector } from '../../src/vision/detection/detector.js';
import { type CocoDataset, detectionReport } from '../../src/vision/index.js';
import { launchChromium, newDesktopPage } from '../helpers/chromium.js';
import { tempDir } from '../helpers/temp.js';
import { makeTabularModel } from './fixtures.js';

let registry: Registry;
let studio: ModelServer;
let url: string;
let browser: Browser;
let page: Page;
let runId: number;

// Classifier: argmax predictions a, a, b, c, a, b against labels a, b, b, c, c, a.
const labels = [0, 1, 1, 2, 2, 0];
const probs = [
  [0.7, 0.2, 0.1],
  [0.5, 0.4, 0.1],
  [0.1, 0.8, 0.1],
  [0.2, 0.3, 0.5],
  [0.6, 0.1, 0.3],
  [0.3, 0.6, 0.1],
];
// Rows true a, b, c; columns predicted a, b, c.
const classifierCounts = [
  [1, 1, 0],
  [1, 1, 0],
  [1, 0, 1],
];

// Detector: image 1 has a circle (found), a square (found as a circle) and nothing where a square
// is claimed; image 2 has a circle nobody finds.
const gt: CocoDataset = {
  images: [1, 2].map((id) => ({ id, file_name: `${id}.png`, width: 64, height: 64 })),
  categories: [
    { id: 1, name: 'circle' },
    { id: 2, name: 'square' },
  ],
  annotations: [
    { id: 1, image_id: 1, category_id: 1, bbox: [0, 0, 10, 10], area: 100, iscrowd: 0 },
    { id: 2, image_id: 1, category_id: 2, bbox: [20, 20, 10, 10], area: 100, iscrowd: 0 },
    { id: 3, image_id: 2, category_id: 1, bbox: [5, 5, 20, 20], area: 400, iscrowd: 0 },
  ],
};
const dets = [
  { image_id: 1, category_id: 1, bbox: [0, 0, 10, 10] as [number, number, number, number], score: 0.9 },
  { image_id: 1, category_id: 1, bbox: [20, 20, 10, 10] as [number, number, number, number], score: 0.8 },
  { image_id: 1, category_id: 2, bbox: [40, 40, 10, 10] as [number, number, number, number], score: 0.7 },
];
// Rows true circle, square, background; columns predicted circle, square, background:
// circle: one found, one missed; square: found as a circle; background: the false square.
const detectorCounts = [
  [1, 0, 1],
  [1, 0, 0],
  [0, 1, 0],
];

beforeAll(async () => {
  const root = tempDir('lepton-studio-eval-');
  registry = new Registry(join(root, 'home'));
  runId = registry.createRun('tabular-run', { epochs: 1 });
  registry.finishRun(runId, 'completed');
  await registry.registerModel(await makeTabularModel(join(root, 'tabular'), { labels: ['a', 'b', 'c'] }), {
    name: 'tabular',
    runId,
  });
  registry.recordEvaluation(classificationReport(labels, probs.flat(), 3, ['a', 'b', 'c']), {
    model: 'tabular',
    runId,
    dataset: 'hand-made.csv',
  });
  const detector = new FcosDetector({
    numClasses: 2,
    imageSize: [64, 64],
    strides: [16, 32],
    classNames: ['circle', 'square'],
  });
  await detector.save(join(root, 'shapes'));
  await registry.registerModel(join(root, 'shapes'), { name: 'shapes' });
  registry.recordEvaluation(detectionReport(gt, dets), { model: 'shapes', dataset: 'scenes.json' });
  studio = await createStudio({ registry, pollMs: 100 });
  url = await studio.listen(0);
  browser = await launchChromium();
  page = await newDesktopPage(browser);
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await studio?.close();
  registry?.close();
});

/** The heatmap as the page drew it: axis labels and the count in every cell, row by row. */
async function heatmap(p: Page): Promise<{ rows: string[]; cols: string[]; counts: number[][] }> {
  await p.waitForSelector('svg.confusion g.cell');
  return p.$eval('svg.confusion', (svg) => {
    const rows = [...svg.querySelectorAll('text.row-label')].map((t) => t.textContent ?? '');
    const cols = [...svg.querySelectorAll('text.col-label')].map((t) => t.textContent ?? '');
    const counts = rows.map((r) =>
      cols.map((c) => {
        const cell = [...svg.querySelectorAll('g.cell')].find(
          (g) => g.getAttribute('data-true') === r && g.getAttribute('data-pred') === c,
        );
        return Number(cell?.querySelector('text')?.textContent);
      }),
    );
    return { rows, cols, counts };
  });
}

/** The PR plot: the class of each line, the legend and whether every point lies inside the axes. */
async function prPlot(p: Page): Promise<{ classes: string[]; legend: string[]; inside: boolean; axes: string[] }> {
  await p.waitForSelector('svg.pr-curve polyline.pr');
  return p.$eval('#pr-curve', (el) => {
    const svg = el.querySelector('svg')!;
    const lines = [...svg.querySelectorAll('polyline.pr')];
    const box = svg.querySelector('line.axis')!;
    const left = Number(svg.querySelectorAll('line.axis')[1].getAttribute('x1'));
    const bottom = Number(box.getAttribute('y1'));
    const right = Number(box.getAttribute('x2'));
    const inside = lines.every((l) =>
      (l.getAttribute('points') ?? '').split(' ').every((pt) => {
        const [x, y] = pt.split(',').map(Number);
        return x >= left - 0.1 && x <= right + 0.1 && y <= bottom + 0.1 && y >= 0;
      }),
    );
    return {
      classes: lines.map((l) => l.getAttribute('data-class') ?? ''),
      legend: [...el.querySelectorAll('.legend span')].map((s) => s.textContent ?? ''),
      inside,
      axes: [...svg.querySelectorAll('text')].map((t) => t.textContent ?? ''),
    };
  });
}

describe('studio evaluation pictures (Chromium)', () => {
  it("draws a classifier's confusion matrix and one-vs-rest PR curves on its model page", async () => {
    await page.goto(`${url}/models/tabular`);
    const m = await heatmap(page);
    expect(m.rows).toEqual(['a', 'b', 'c']);
    expect(m.cols).toEqual(['a', 'b', 'c']);
    expect(m.counts).toEqual(classifierCounts);
    const axisTitles = await page.$$eval('svg.confusion text.axis-title', (ts) => ts.map((t) => t.textContent));
    expect(axisTitles).toEqual(['predicted', 'true']);
    const pr = await prPlot(page);
    expect(pr.classes).toEqual(['a', 'b', 'c']);
    expect(pr.inside).toBe(true);
    expect(pr.axes).toContain('recall');
    expect(pr.axes).toContain('precision');
    // Class a by hand: ranked 0.7(+) 0.6 0.5 0.3(+) → precision 1 up to recall 0.5 (51 of 101 points), then 1/2.
    expect(pr.legend[0]).toBe(`a (AP ${((51 + 50 * 0.5) / 101).toFixed(3)})`);
    // Per-class table: a has precision 1/3 and recall 1/2.
    const row = await page.$$eval('table.per-class tbody tr:first-child td', (tds) => tds.map((t) => t.textContent));
    expect(row.slice(0, 3)).toEqual(['a', (1 / 3).toPrecision(4), '0.5000']);
  });

  it("draws a detector's confusion matrix with background and both PR curve sets", async () => {
    await page.goto(`${url}/models/shapes`);
    const m = await heatmap(page);
    expect(m.rows).toEqual(['circle', 'square', 'background']);
    expect(m.cols).toEqual(['circle', 'square', 'background']);
    expect(m.counts).toEqual(detectorCounts);
    const report = detectionReport(gt, dets);
    // square has no true positive at any rank: its curve is flat at 0 (AP 0).
    let pr = await prPlot(page);
    expect(pr.legend).toEqual(report.prCurves[0].curves.map((c) => `${c.name} (AP ${c.ap.toFixed(3)})`));
    expect(pr.classes).toEqual(['circle', 'square']);
    await page.selectOption('#pr-set', '1');
    pr = await prPlot(page);
    expect(pr.legend).toEqual(report.prCurves[1].curves.map((c) => `${c.name} (AP ${c.ap.toFixed(3)})`));
    expect(await page.textContent('#confusion')).toContain('IoU ≥ 0.5');
  });

  it("shows the evaluation of the run's model on the run page", async () => {
    await page.goto(`${url}/runs/${runId}`);
    const m = await heatmap(page);
    expect(m.counts).toEqual(classifierCounts);
    expect(await page.textContent('#evaluation h2')).toContain('tabular@1 on hand-made.csv');
  });

  it('draws the pictures behind --token (the page asks for the token once)', async () => {
    const secured = await createStudio({ registry, token: 'k3y', pollMs: 100 });
    const surl = await secured.listen(0);
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    try {
      expect((await fetch(`${surl}/api/models/tabular`)).status).toBe(401);
      const p = await context.newPage();
      let prompts = 0;
      p.on('dialog', (d) => {
        prompts++;
        void d.accept('k3y');
      });
      await p.goto(`${surl}/models/tabular`);
      expect((await heatmap(p)).counts).toEqual(classifierCounts);
      expect(prompts).toBe(1);
    } finally {
      await context.close();
      await secured.close();
    }
  });
});
