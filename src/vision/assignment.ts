/**
 * Minimum-cost linear assignment (the Hungarian method, in its shortest-augmenting-path form with
 * row/column potentials, O(n²m)) for rectangular cost matrices, as scipy's
 * `linear_sum_assignment`: every row of the smaller side is assigned to a distinct column of the
 * larger one. Used by the tracker (detections ↔ tracks) and the MOT metrics (ground truth ↔
 * hypotheses); both are small dense problems where a library's generality buys nothing.
 */

/**
 * Solves min Σ cost[r][c] over assignments of min(rows, cols) distinct pairs. `cost` is row-major
 * [rows, cols]; entries must be finite (use a large value for forbidden pairs and drop those pairs
 * afterwards). Returns the pairs sorted by row.
 */
export function linearAssignment(cost: ArrayLike<number>, rows: number, cols: number): [number, number][] {
  if (!(Number.isInteger(rows) && Number.isInteger(cols) && rows >= 0 && cols >= 0) || cost.length !== rows * cols)
    throw new Error(
      `linearAssignment: expected a ${rows}x${cols} cost matrix (${rows * cols} values), got ${cost.length}`,
    );
  for (let i = 0; i < cost.length; i++)
    if (!Number.isFinite(cost[i]))
      throw new Error(
        `linearAssignment: cost[${Math.floor(i / cols)}][${i % cols}] is ${cost[i]}; costs must be finite`,
      );
  if (rows === 0 || cols === 0) return [];
  // The algorithm assigns every row, so it needs rows <= cols: solve the transpose otherwise.
  const flip = rows > cols;
  const n = flip ? cols : rows,
    m = flip ? rows : cols;
  const a = (i: number, j: number) => (flip ? cost[j * cols + i] : cost[i * cols + j]);
  // 1-based arrays; column 0 is the virtual start of each augmenting path.
  const u = new Float64Array(n + 1),
    v = new Float64Array(m + 1);
  const match = new Int32Array(m + 1); // match[j] = row assigned to column j (0 = none)
  const way = new Int32Array(m + 1);
  const minv = new Float64Array(m + 1);
  const used = new Uint8Array(m + 1);
  for (let i = 1; i <= n; i++) {
    match[0] = i;
    let j0 = 0;
    minv.fill(Number.POSITIVE_INFINITY);
    used.fill(0);
    do {
      used[j0] = 1;
      const i0 = match[j0];
      let delta = Number.POSITIVE_INFINITY,
        j1 = 0;
      for (let j = 1; j <= m; j++) {
        if (used[j]) continue;
        const cur = a(i0 - 1, j - 1) - u[i0] - v[j];
        if (cur < minv[j]) {
          minv[j] = cur;
          way[j] = j0;
        }
        if (minv[j] < delta) {
          delta = minv[j];
          j1 = j;
        }
      }
      for (let j = 0; j <= m; j++) {
        if (used[j]) {
          u[match[j]] += delta;
          v[j] -= delta;
        } else minv[j] -= delta;
      }
      j0 = j1;
    } while (match[j0] !== 0);
    do {
      const j1 = way[j0];
      match[j0] = match[j1];
      j0 = j1;
    } while (j0 !== 0);
  }
  const pairs: [number, number][] = [];
  for (let j = 1; j <= m; j++) if (match[j]) pairs.push(flip ? [j - 1, match[j] - 1] : [match[j] - 1, j - 1]);
  return pairs.sort((p, q) => p[0] - q[0]);
}

/**
 * Pairs (row, col) maximising the total similarity among pairs with similarity ≥ `threshold`:
 * forbidden pairs get a cost larger than any achievable total, so the solver first maximises how
 * many allowed pairs it makes, then their similarity. `sim` is row-major [rows, cols].
 */
export function matchBySimilarity(
  sim: ArrayLike<number>,
  rows: number,
  cols: number,
  threshold: number,
): [number, number][] {
  let any = false;
  const cost = new Float64Array(rows * cols);
  let maxSim = 0;
  for (let i = 0; i < sim.length; i++) maxSim = Math.max(maxSim, Math.abs(sim[i]));
  const forbidden = (maxSim + 1) * (Math.min(rows, cols) + 1);
  for (let i = 0; i < cost.length; i++) {
    if (sim[i] >= threshold) {
      cost[i] = -sim[i];
      any = true;
    } else cost[i] = forbidden;
  }
  if (!any) return [];
  return linearAssignment(cost, rows, cols).filter(([r, c]) => sim[r * cols + c] >= threshold);
}
