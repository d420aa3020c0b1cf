import { describe, expect, it } from 'vitest';
import { Variable, tensor } from '../../src/index.js';
import {
  CosineDecay,
  ExponentialDecay,
  LinearWarmup,
  StepDecay,
  getOptimizer,
  learningRateFromConfig,
  serializeSchedule,
} from '../../src/train/index.js';
import { expectPyTorchStep, optimizerCases } from '../helpers/optimizer-fixtures.js';

describe('optimizers match PyTorch (fixtures from scripts/make-optimizer-fixtures.py)', () => {
  for (const c of optimizerCases) {
    it(c.name, () => {
      const opt = getOptimizer({ className: c.className, config: c.options });
      const params = c.shapes.map((s, i) => new Variable(tensor(new Float32Array(c.initial[i]), { shape: s })));
      c.grads.forEach((stepGrads, step) => {
        opt.step(
          params,
          stepGrads.map((g, i) => tensor(new Float32Array(g), { shape: c.shapes[i] })),
        );
        params.forEach((p, i) => expectPyTorchStep(c, step, i, p.data as Float32Array));
      });
      expect(opt.iterations).toBe(c.grads.length);
    });
  }
});

describe('learning-rate schedules', () => {
  it('follow their closed forms and round-trip through config', () => {
    const step = new StepDecay({ initial: 1, stepSize: 3, gamma: 0.5 });
    expect([0, 2, 3, 6, 7].map((s) => step.at(s))).toEqual([1, 1, 0.5, 0.25, 0.25]);
    const exp = new ExponentialDecay({ initial: 2, decaySteps: 10, decayRate: 0.5 });
    expect(exp.at(5)).toBeCloseTo(2 * 0.5 ** 0.5, 12);
    const cos = new CosineDecay({ initial: 1, decaySteps: 10, minimum: 0.1 });
    expect(cos.at(0)).toBeCloseTo(1, 12);
    expect(cos.at(5)).toBeCloseTo(0.55, 12);
    expect(cos.at(10)).toBeCloseTo(0.1, 12);
    expect(cos.at(20)).toBeCloseTo(0.1, 12);
    const warm = new LinearWarmup({ warmupSteps: 3, after: cos });
    expect([0, 1, 2].map((s) => warm.at(s))).toEqual([0.25, 0.5, 0.75]);
    expect(warm.at(3)).toBeCloseTo(1, 12);
    expect(warm.at(8)).toBeCloseTo(0.55, 12);
    const again = learningRateFromConfig(serializeSchedule(warm));
    expect([0, 4, 9].map((s) => (again as LinearWarmup).at(s))).toEqual([0, 4, 9].map((s) => warm.at(s)));
  });
});
