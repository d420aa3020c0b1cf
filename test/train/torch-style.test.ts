/** The PyTorch-style training path: optimizers built from parameters, step(grads), zeroGrad, torch modules. */
import { describe, expect, it } from 'vitest';
import {
  Adam,
  Module,
  SGD,
  type Tensor,
  Variable,
  functionalCall,
  mean,
  optimizers,
  setSeed,
  square,
  sub,
  tensor,
  torch,
  valueAndGrad,
} from '../../src/index.js';

describe('optimizers, PyTorch style', () => {
  it('new Adam(params, { lr }).step(grads) takes the first Adam step by hand: p - lr·g/(|g| + eps)', () => {
    const p = new Variable(tensor([1, -2, 0.5]));
    const g = [0.3, -0.1, 2];
    const opt = new Adam([p], { lr: 0.1 });
    expect(opt.currentLearningRate()).toBe(0.1);
    opt.zeroGrad();
    opt.step([tensor(g)]);
    // Step 1: m̂ = g and v̂ = g² after bias correction, so the update is lr·g/(|g| + 1e-8).
    const want = [1, -2, 0.5].map((v, i) => v - (0.1 * g[i]) / (Math.abs(g[i]) + 1e-8));
    Array.from(p.data as Float32Array).forEach((v, i) => expect(v).toBeCloseTo(want[i], 6));
    expect(opt.iterations).toBe(1);
  });

  it('step(Map) updates only the parameters that have a gradient; SGD is p - lr·g', () => {
    const a = new Variable(tensor([1, 2]));
    const b = new Variable(tensor([3]));
    const opt = new SGD([a, b], { lr: 0.5 });
    opt.step(new Map([[b, tensor([4])]]));
    expect(Array.from(a.data as Float32Array)).toEqual([1, 2]);
    expect(Array.from(b.data as Float32Array)).toEqual([3 - 0.5 * 4]);
  });

  it('says how to fix step(grads) without parameters, mismatched gradients, foreign Variables and lr + learningRate', () => {
    const p = new Variable(tensor([1]));
    expect(() => new Adam({ learningRate: 0.1 }).step([tensor([1])])).toThrow(
      /created without parameters; create it with new Adam\(model.parameters\(\), \{ lr \}\)/,
    );
    expect(() => new Adam([p]).step([tensor([1]), tensor([2])])).toThrow(/got 1 parameters but 2 gradients/);
    expect(() => new Adam([p]).step(new Map([[new Variable(tensor([0])), tensor([1])]]))).toThrow(
      /is not one of this optimizer's parameters/,
    );
    expect(() => new Adam([p], { lr: 1, learningRate: 1 })).toThrow(/lr or learningRate, not both/);
    expect(() => new Adam([tensor([1]) as unknown as Variable])).toThrow(/parameter 0 is not a Variable/);
  });

  it('the Keras form keeps working: optimizers.Adam({ learningRate }) and new AdamW() defaults', () => {
    const opt = optimizers.Adam({ learningRate: 0.01 });
    expect(opt.currentLearningRate()).toBe(0.01);
    expect(opt.params).toBeUndefined();
    expect(opt.getConfig().config.weightDecay).toBe(0);
    expect(optimizers.AdamW().getConfig().config.weightDecay).toBe(0.01);
    expect(new Adam().getConfig().config.learningRate).toBe(1e-3);
  });

  it('a torch.Sequential trains with valueAndGrad + functionalCall + step(grads)', () => {
    setSeed(3);
    const net = new torch.Sequential(new torch.Linear(1, 8), new torch.Tanh(), new torch.Linear(8, 1));
    const x = tensor([[-1], [-0.5], [0], [0.5], [1]]);
    const y = tensor([[1], [0.25], [0], [0.25], [1]]);
    const params = net.parameters();
    const lossOf = (ps: Tensor[]) =>
      functionalCall(
        net,
        params.map((p, i) => [p, ps[i]] as [Variable, Tensor]),
        () => mean(square(sub(net.call(x) as Tensor, y))),
      );
    const opt = new Adam(params, { lr: 0.05 });
    const first = (valueAndGrad(lossOf)(params)[0] as Tensor).item();
    let last = first;
    for (let i = 0; i < 60; i++) {
      opt.zeroGrad();
      const [loss, grads] = valueAndGrad(lossOf)(params);
      opt.step(grads as Tensor[]);
      last = (loss as Tensor).item();
    }
    expect(last).toBeLessThan(first / 4);
  });
});

describe('torch modules: one convention', () => {
  it('activation modules are classes constructed with new, like Linear', () => {
    for (const M of [
      torch.ReLU,
      torch.GELU,
      torch.Tanh,
      torch.Sigmoid,
      torch.SiLU,
      torch.ELU,
      torch.Softmax,
      torch.Linear,
    ]) {
      expect(M.prototype).toBeInstanceOf(Module);
    }
    const r = new torch.ReLU();
    expect(Array.from((r.call(tensor([-1, 2])) as Tensor).data as Float32Array)).toEqual([0, 2]);
    expect(new torch.ELU(2).alpha).toBe(2);
    const s = new torch.Softmax(0).call(tensor([0, 0])) as Tensor;
    expect(Array.from(s.data as Float32Array)).toEqual([0.5, 0.5]);
  });
});
