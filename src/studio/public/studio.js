// Lepton studio: shared helpers (fetch, navigation, SVG charts) and one function per page.
const COLORS = ['#3b5bdb', '#e8590c', '#2f9e44', '#ae3ec9', '#1098ad', '#f08c00', '#c2255c', '#5c940d'];

function token() {
  return localStorage.getItem('lepton-token') || '';
}
function authHeaders() {
  return token() ? { authorization: `Bearer ${token()}` } : {};
}
async function api(path, init = {}, retried = false) {
  const res = await fetch(path, { ...init, headers: { ...(init.headers || {}), ...authHeaders() } });
  if (res.status === 401 && !retried) {
    // The server was started with --token: ask once and keep it for this browser.
    const t = window.prompt('This server requires a bearer token:');
    if (t) {
      localStorage.setItem('lepton-token', t);
      return api(path, init, true);
    }
  }
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.error || `${res.status} ${res.statusText}`);
  return body;
}
const esc = (s) =>
  String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
const fmt = (v) =>
  v === null || v === undefined
    ? '–'
    : typeof v !== 'number'
      ? esc(v)
      : Number.isInteger(v)
        ? String(v)
        : Math.abs(v) >= 100
          ? v.toFixed(1)
          : Math.abs(v) >= 1
            ? v.toFixed(3)
            : v.toPrecision(4);
const duration = (s) =>
  s === null || s === undefined
    ? '–'
    : s < 60
      ? `${s.toFixed(1)} s`
      : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
const badge = (status) => `<span class="badge ${esc(status)}">${esc(status)}</span>`;

export function layout(active) {
  const links = [
    ['/', 'Runs', 'runs'],
    ['/models', 'Models', 'models'],
    ['/speak', 'Speak', 'speak'],
    ['/docs', 'API docs', 'docs'],
  ];
  document.body.insertAdjacentHTML(
    'afterbegin',
    `<header><span class="brand">Lepton Studio</span><nav>${links.map(([href, label, key]) => `<a href="${href}" class="${key === active ? 'active' : ''}">${label}</a>`).join('')}</nav></header>`,
  );
}

/** A "nice" tick step (1, 2, 2.5 or 5 × 10^k) giving about `target` intervals over `range`. */
function niceStep(range, target) {
  const raw = range / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10) * mag;
}

/** Round axis bounds and ticks covering [lo, hi]: bounds are multiples of the step, so data ≥ 0 never gets an axis below 0 and data ≤ 1 never one above 1. */
export function niceAxis(lo, hi, target = 5, minStep = 0) {
  if (!(hi > lo)) {
    const d = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    [lo, hi] = [lo - d, hi + d];
  }
  const step = Math.max(niceStep(hi - lo, target), minStep);
  const start = Math.floor(lo / step + 1e-9) * step;
  const end = Math.ceil(hi / step - 1e-9) * step;
  const decimals = Math.max(
    0,
    -Math.floor(Math.log10(step) + 1e-9) + (Math.abs(step / 10 ** Math.floor(Math.log10(step)) - 2.5) < 1e-9 ? 1 : 0),
  );
  const ticks = [];
  for (let v = start; v <= end + step * 1e-6; v += step) ticks.push(Number(v.toFixed(decimals)));
  return { lo: start, hi: end, ticks, label: (v) => v.toFixed(decimals) };
}

/** TensorBoard's smoothing: an exponential moving average, debiased so the start is not pulled to 0. */
export function smooth(points, weight) {
  if (!(weight > 0)) return points;
  let last = 0;
  let n = 0;
  return points.map(([x, y]) => {
    last = last * weight + (1 - weight) * y;
    n++;
    return [x, last / (1 - weight ** n)];
  });
}

/**
 * A line chart as inline SVG. series: [{name, color, points: [[x, y], ...], steps?: true}]; step
 * series are drawn raw (faint) and smoothed (`smoothing`, 0..1). Only series with data get a legend.
 */
export function lineChart(el, series, { xLabel = 'epoch', yLabel = '', smoothing = 0, integerX = true } = {}) {
  const W = Math.max(300, Math.round(el.clientWidth || 560)),
    H = 260,
    L = 52,
    R = 14,
    T = 12,
    B = 36;
  const present = series
    .map((s, i) => ({
      ...s,
      color: s.color || COLORS[i % COLORS.length],
      points: s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)),
    }))
    .filter((s) => s.points.length);
  const pts = present.flatMap((s) => s.points);
  if (!pts.length) {
    el.innerHTML = '<div class="empty">no data yet</div>';
    return;
  }
  // x spans the data exactly (ticks at round values inside it); y gets round bounds.
  const xMin = Math.min(...pts.map((p) => p[0]));
  const xMax = Math.max(...pts.map((p) => p[0]));
  const xt = niceAxis(xMin, xMax, Math.max(2, Math.floor((W - L - R) / 70)), integerX ? 1 : 0);
  const xs =
    xMax > xMin
      ? { ...xt, lo: xMin, hi: xMax, ticks: xt.ticks.filter((t) => t >= xMin - 1e-9 && t <= xMax + 1e-9) }
      : xt;
  const ys = niceAxis(Math.min(...pts.map((p) => p[1])), Math.max(...pts.map((p) => p[1])), 5);
  const sx = (x) => L + ((x - xs.lo) / (xs.hi - xs.lo)) * (W - L - R);
  const sy = (y) => T + (1 - (y - ys.lo) / (ys.hi - ys.lo)) * (H - T - B);
  let g = '';
  for (const y of ys.ticks)
    g += `<line class="grid" x1="${L}" x2="${W - R}" y1="${sy(y)}" y2="${sy(y)}"/><text x="${L - 6}" y="${sy(y) + 4}" text-anchor="end">${ys.label(y)}</text>`;
  for (const x of xs.ticks) g += `<text x="${sx(x)}" y="${H - B + 16}" text-anchor="middle">${xs.label(x)}</text>`;
  g += `<line class="axis" x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}"/><line class="axis" x1="${L}" x2="${L}" y1="${T}" y2="${H - B}"/>`;
  g += `<text x="${(L + W - R) / 2}" y="${H - 3}" text-anchor="middle">${esc(xLabel)}</text>`;
  if (yLabel)
    g += `<text x="12" y="${(T + H - B) / 2}" text-anchor="middle" transform="rotate(-90 12 ${(T + H - B) / 2})">${esc(yLabel)}</text>`;
  const line = (p, color, cls, extra = '') =>
    `<polyline class="${cls}" fill="none" stroke="${color}" ${extra} points="${p.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ')}"/>`;
  for (const s of present) {
    if (s.steps) {
      g += line(s.points, s.color, 'step raw', 'stroke-width="1" stroke-opacity="0.25"');
      g += line(smooth(s.points, smoothing), s.color, 'step smooth', 'stroke-width="2"');
    } else {
      g += line(s.points, s.color, 'epoch', 'stroke-width="2"');
      g += s.points
        .map(
          ([x, y]) =>
            `<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="3" fill="${s.color}"><title>${esc(s.name)} @ ${fmt(x)}: ${fmt(y)}</title></circle>`,
        )
        .join('');
    }
  }
  el.innerHTML = `<svg class="chart" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}">${g}</svg><div class="legend">${present
    .map((s) => `<span class="${s.steps ? 'steps' : ''}" style="--c:${s.color}">${esc(s.name)}</span>`)
    .join('')}</div>`;
}

/** Groups metric names into charts: loss-like and everything else (accuracy etc.). */
function chartGroups(keys) {
  const loss = keys.filter((k) => /loss|error|mse|mae/i.test(k));
  const other = keys.filter((k) => !loss.includes(k));
  return [
    ['Loss', loss],
    ['Accuracy & metrics', other],
  ].filter(([, ks]) => ks.length);
}

// ---------- evaluations: precision–recall curves and confusion matrices ----------

/** A colour per class: the chart palette, then golden-angle hues for more classes. */
const classColor = (i) => (i < COLORS.length ? COLORS[i] : `hsl(${Math.round((i * 137.508) % 360)} 65% 42%)`);

/**
 * Precision–recall curves as inline SVG: set = {label, curves: [{name, ap, precision: [101 values at
 * recall 0, 0.01, …, 1]}]}; axes 0..1, one line per class, AP in the legend.
 */
export function prCurveChart(el, set) {
  const W = 420,
    H = 340,
    L = 48,
    R = 12,
    T = 10,
    B = 40;
  if (!set?.curves.length) {
    el.innerHTML = '<div class="empty">no curves (no positives)</div>';
    return;
  }
  const sx = (x) => L + x * (W - L - R);
  const sy = (y) => T + (1 - y) * (H - T - B);
  let g = '';
  for (let i = 0; i <= 5; i++) {
    const v = i / 5;
    g += `<line class="grid" x1="${L}" x2="${W - R}" y1="${sy(v)}" y2="${sy(v)}"/><line class="grid" x1="${sx(v)}" x2="${sx(v)}" y1="${T}" y2="${H - B}"/>`;
    g += `<text x="${L - 6}" y="${sy(v) + 4}" text-anchor="end">${v.toFixed(1)}</text><text x="${sx(v)}" y="${H - B + 15}" text-anchor="middle">${v.toFixed(1)}</text>`;
  }
  g += `<line class="axis" x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}"/><line class="axis" x1="${L}" x2="${L}" y1="${T}" y2="${H - B}"/>`;
  g += `<text x="${(L + W - R) / 2}" y="${H - 4}" text-anchor="middle">recall</text>`;
  g += `<text x="12" y="${(T + H - B) / 2}" text-anchor="middle" transform="rotate(-90 12 ${(T + H - B) / 2})">precision</text>`;
  set.curves.forEach((c, i) => {
    const n = c.precision.length;
    const pts = c.precision.map((p, r) => `${sx(r / (n - 1)).toFixed(1)},${sy(p).toFixed(1)}`).join(' ');
    g += `<polyline class="pr" data-class="${esc(c.name)}" fill="none" stroke="${classColor(i)}" stroke-width="2" points="${pts}"><title>${esc(c.name)}: AP ${c.ap.toFixed(3)}</title></polyline>`;
  });
  el.innerHTML = `<svg class="chart pr-curve" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="precision–recall curves (${esc(set.label)})">${g}</svg><div class="legend">${set.curves
    .map((c, i) => `<span style="--c:${classColor(i)}">${esc(c.name)} (AP ${c.ap.toFixed(3)})</span>`)
    .join('')}</div>`;
}

/**
 * A confusion matrix as an SVG heatmap: confusion = {labels, counts[true][predicted]}; counts in
 * the cells, colour by the share of the row (the true class), class names on both axes.
 */
export function confusionHeatmap(el, confusion) {
  const { labels, counts } = confusion;
  const n = labels.length;
  const cell = Math.max(18, Math.min(44, Math.floor(400 / Math.max(1, n))));
  const longest = Math.max(...labels.map((l) => String(l).length));
  const L = 28 + Math.min(140, longest * 7),
    T = 8,
    B = 26 + Math.min(110, longest * 5.2),
    R = 8;
  const W = L + n * cell + R,
    H = T + n * cell + B;
  const font = Math.max(8, Math.min(12, Math.floor(cell / 2.8)));
  // Row share → white … accent blue.
  const shade = (f) => {
    const mix = (a, b) => Math.round(a + (b - a) * f);
    return `rgb(${mix(255, 0x3b)},${mix(255, 0x5b)},${mix(255, 0xdb)})`;
  };
  let g = '';
  counts.forEach((row, t) => {
    const total = row.reduce((s, v) => s + v, 0);
    row.forEach((v, p) => {
      const f = total ? v / total : 0;
      const x = L + p * cell,
        y = T + t * cell;
      g += `<g class="cell" data-true="${esc(labels[t])}" data-pred="${esc(labels[p])}"><rect x="${x}" y="${y}" width="${cell}" height="${cell}" fill="${shade(f)}" stroke="#fff"/><text class="count" x="${x + cell / 2}" y="${y + cell / 2 + font / 3}" text-anchor="middle" font-size="${font}" style="fill:${f > 0.5 ? '#fff' : '#1d2330'}">${v}</text><title>true ${esc(labels[t])}, predicted ${esc(labels[p])}: ${v} (${total ? (100 * f).toFixed(1) : '0'}% of ${esc(labels[t])})</title></g>`;
    });
    g += `<text class="row-label" x="${L - 5}" y="${T + t * cell + cell / 2 + 4}" text-anchor="end">${esc(labels[t])}</text>`;
  });
  labels.forEach((l, p) => {
    const x = L + p * cell + cell / 2 + 4,
      y = T + n * cell + 6;
    g += `<text class="col-label" x="${x}" y="${y}" text-anchor="end" transform="rotate(-45 ${x} ${y})">${esc(l)}</text>`;
  });
  g += `<text class="axis-title" x="${L + (n * cell) / 2}" y="${H - 4}" text-anchor="middle">predicted</text>`;
  g += `<text class="axis-title" x="11" y="${T + (n * cell) / 2}" text-anchor="middle" transform="rotate(-90 11 ${T + (n * cell) / 2})">true</text>`;
  el.innerHTML = `<svg class="chart confusion" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" style="max-width:${W}px" role="img" aria-label="confusion matrix">${g}</svg>${
    confusion.scoreThreshold !== undefined
      ? `<p class="muted">objects matched at IoU ≥ ${confusion.iouThreshold}, detections scoring ≥ ${confusion.scoreThreshold}; background: missed objects (column) and false detections (row)</p>`
      : ''
  }`;
}

/** The evaluations card: pick an evaluation, its numbers, PR curves, confusion matrix and per-class table. */
function evaluationSection(container, evaluations) {
  if (!evaluations?.length) return;
  const title = (e) =>
    `#${e.id} ${e.model ? `${e.model}@${e.version}` : 'model'} on ${e.dataset} (${e.createdAt.replace('T', ' ').slice(0, 16)})`;
  container.insertAdjacentHTML(
    'beforeend',
    `<div class="card" id="evaluation"><h2>Evaluation ${
      evaluations.length > 1
        ? `<select id="evaluation-pick">${evaluations.map((e, i) => `<option value="${i}">${esc(title(e))}</option>`).join('')}</select>`
        : `<span class="muted">${esc(title(evaluations[0]))}</span>`
    }</h2><div class="metrics" id="evaluation-metrics"></div><div class="grid evaluation-plots"><div><h3>Precision–recall <select id="pr-set"></select></h3><div id="pr-curve"></div></div><div><h3>Confusion matrix</h3><div id="confusion"></div></div></div><div id="per-class"></div></div>`,
  );
  const show = (e) => {
    const r = e.report;
    // -1: COCO's "not measurable here" (e.g. no large objects).
    document.getElementById('evaluation-metrics').innerHTML = [
      [esc(r.task), `${r.samples} ${r.task === 'detection' ? 'images' : 'samples'}`],
      ...Object.entries(r.metrics).map(([k, v]) => [esc(k), v === -1 ? '–' : fmt(v)]),
    ]
      .map(([k, v]) => `<span><span class="muted">${k}</span> ${v}</span>`)
      .join('');
    const sets = r.prCurves || [];
    const pick = document.getElementById('pr-set');
    pick.innerHTML = sets.map((s, i) => `<option value="${i}">${esc(s.label)}</option>`).join('');
    pick.hidden = sets.length < 2;
    const draw = () => prCurveChart(document.getElementById('pr-curve'), sets[Number(pick.value) || 0]);
    pick.onchange = draw;
    draw();
    confusionHeatmap(document.getElementById('confusion'), r.confusion);
    document.getElementById('per-class').innerHTML =
      `<table class="per-class"><thead><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>support</th><th>${r.task === 'detection' ? 'AP .5:.95' : 'AP'}</th></tr></thead><tbody>${r.perClass
        .map(
          (c) =>
            `<tr><td>${esc(c.name)}</td><td>${fmt(c.precision)}</td><td>${fmt(c.recall)}</td><td>${fmt(c.f1)}</td><td>${c.support}</td><td>${fmt(c.ap)}</td></tr>`,
        )
        .join('')}</tbody></table>`;
  };
  const select = document.getElementById('evaluation-pick');
  if (select) select.addEventListener('change', () => show(evaluations[Number(select.value)]));
  show(evaluations[0]);
}

// ---------- pages ----------

export async function runsPage() {
  layout('runs');
  const main = document.querySelector('main');
  const { runs } = await api('/api/runs');
  if (!runs.length) {
    main.innerHTML =
      '<h1>Runs</h1><div class="card empty">No runs yet. Train with <code>lepton train script.ts</code> (or pass a RunTracker callback to fit).</div>';
    return;
  }
  const keys = [...new Set(runs.flatMap((r) => Object.keys(r.summary)))].slice(0, 4);
  main.innerHTML = `<h1>Runs</h1><div class="card"><table id="runs"><thead><tr><th></th><th>id</th><th>name</th><th>status</th><th class="opt">started</th><th class="opt">duration</th>${keys
    .map((k) => `<th>${esc(k)}</th>`)
    .join('')}</tr></thead><tbody>${runs
    .map(
      (r) =>
        `<tr data-run="${r.id}"><td><input type="checkbox" value="${r.id}"></td><td>${r.id}</td><td><a href="/runs/${r.id}">${esc(r.name)}</a></td><td>${badge(r.status)}</td><td class="opt">${esc(
          r.startedAt.replace('T', ' ').slice(0, 19),
        )}</td><td class="opt">${duration(r.durationSeconds)}</td>${keys.map((k) => `<td>${fmt(r.summary[k])}</td>`).join('')}</tr>`,
    )
    .join(
      '',
    )}</tbody></table><p><button id="compare" disabled>Compare selected</button> <span class="muted">select two or more runs</span></p></div>`;
  const button = document.getElementById('compare');
  const selected = () => [...main.querySelectorAll('input[type=checkbox]:checked')].map((c) => c.value);
  main.addEventListener('change', () => (button.disabled = selected().length < 2));
  button.addEventListener('click', () => (location.href = `/compare?ids=${selected().join(',')}`));
}

export async function runPage() {
  layout('runs');
  const main = document.querySelector('main');
  const id = location.pathname.split('/').pop();
  let data;
  try {
    data = await api(`/api/runs/${id}`);
  } catch (e) {
    main.innerHTML = `<h1>Run ${esc(id)}</h1><div class="card error">${esc(e.message)}</div>`;
    return;
  }
  const epochs = data.epochs;
  const steps = data.steps || [];
  const smoothing = () => Number(localStorage.getItem('lepton-smoothing') ?? 0.6);
  main.innerHTML = `<h1>Run ${data.run.id}: ${esc(data.run.name)} <span id="status">${badge(data.run.status)}</span> <span id="live" class="live"></span></h1>
    <div class="controls"><label>smoothing <input type="range" id="smoothing" min="0" max="0.99" step="0.01" value="${smoothing()}"> <output id="smoothing-value">${smoothing().toFixed(2)}</output></label> <span class="muted">per-step curves (faint: raw)</span></div>
    <div class="grid" id="charts"></div>
    <div class="grid"><div class="card"><h2>Details</h2><div class="kv" id="details"></div></div>
    <div class="card"><h2>Hyper-parameters</h2><div class="kv">${
      Object.entries(data.run.params)
        .map(([k, v]) => `<div>${esc(k)}</div><div>${esc(JSON.stringify(v))}</div>`)
        .join('') || '<div class="muted">none recorded</div>'
    }</div></div></div>
    <div class="card"><h2>Epochs</h2><div id="epochs"></div></div><div id="evaluations"></div>`;
  evaluationSection(document.getElementById('evaluations'), data.evaluations);
  const render = (run) => {
    document.getElementById('status').innerHTML = badge(run.status);
    document.getElementById('details').innerHTML = [
      ['started', run.startedAt.replace('T', ' ').slice(0, 19)],
      ['ended', run.endedAt ? run.endedAt.replace('T', ' ').slice(0, 19) : '–'],
      ['duration', duration(run.durationSeconds)],
      ['epochs', epochs.length],
      ...(run.error ? [['error', `<span class="error">${esc(run.error)}</span>`]] : []),
      ...(run.progress
        ? [
            [
              'progress',
              `epoch ${run.progress.epoch + 1}, batch ${run.progress.batch + 1}${run.params.stepsPerEpoch ? `/${run.params.stepsPerEpoch}` : ''}${run.progress.loss !== undefined ? `, loss ${fmt(run.progress.loss)}` : ''}`,
            ],
          ]
        : []),
      ...data.models.map((m) => [
        'model',
        `<a href="/models/${encodeURIComponent(m.name)}">${esc(m.name)}@${m.version}</a>`,
      ]),
    ]
      .map(([k, v]) => `<div>${k}</div><div>${typeof v === 'number' ? v : v}</div>`)
      .join('');
    const keys = [...new Set(epochs.flatMap((e) => Object.keys(e.metrics)))];
    const stepKeys = [...new Set(steps.flatMap((st) => Object.keys(st.metrics)))];
    for (const k of stepKeys) if (!keys.includes(k)) keys.push(k);
    const charts = document.getElementById('charts');
    charts.innerHTML =
      chartGroups(keys)
        .map(([title], i) => `<div class="card"><h2>${title}</h2><div id="chart-${i}"></div></div>`)
        .join('') || '<div class="card empty">waiting for the first epoch…</div>';
    // While an epoch runs, its batch-level running values extend the curves (x = fractional epoch).
    const stepsPerEpoch = run.params.stepsPerEpoch;
    const p = run.status === 'running' && run.progress && stepsPerEpoch ? run.progress : null;
    chartGroups(keys).forEach(([, ks], i) =>
      lineChart(
        document.getElementById(`chart-${i}`),
        ks.flatMap((k, j) => [
          {
            name: k,
            color: COLORS[(2 * j) % COLORS.length],
            points: [
              ...epochs.map((e) => [e.epoch + 1, e.metrics[k]]),
              ...(p && typeof p[k] === 'number' && p.epoch >= epochs.length
                ? [[p.epoch + (p.batch + 1) / stepsPerEpoch, p[k]]]
                : []),
            ],
          },
          {
            name: `${k} per step`,
            color: COLORS[(2 * j + 1) % COLORS.length],
            steps: true,
            points: steps.map((st) => [st.epoch, st.metrics[k]]),
          },
        ]),
        { smoothing: smoothing() },
      ),
    );
    document.getElementById('epochs').innerHTML = epochs.length
      ? `<table><thead><tr><th>epoch</th>${keys.map((k) => `<th>${esc(k)}</th>`).join('')}</tr></thead><tbody>${epochs
          .map((e) => `<tr><td>${e.epoch + 1}</td>${keys.map((k) => `<td>${fmt(e.metrics[k])}</td>`).join('')}</tr>`)
          .join('')}</tbody></table>`
      : '<div class="empty">no epochs yet</div>';
  };
  let current = data.run;
  render(current);
  document.getElementById('smoothing').addEventListener('input', (ev) => {
    localStorage.setItem('lepton-smoothing', ev.target.value);
    document.getElementById('smoothing-value').textContent = Number(ev.target.value).toFixed(2);
    render(current);
  });
  if (data.run.status === 'running') {
    const live = document.getElementById('live');
    live.textContent = '● live';
    // EventSource cannot send headers: the token goes in the query string (the server accepts it only for event streams).
    const source = new EventSource(
      `/api/runs/${id}/events${token() ? `?access_token=${encodeURIComponent(token())}` : ''}`,
    );
    const seen = new Set(epochs.map((e) => e.epoch));
    let run = data.run;
    source.addEventListener('epoch', (ev) => {
      const e = JSON.parse(ev.data);
      if (!seen.has(e.epoch)) {
        seen.add(e.epoch);
        epochs.push(e);
        if (run.progress && e.epoch >= run.progress.epoch) run = { ...run, progress: null };
        render((current = run));
      }
    });
    source.addEventListener('progress', (ev) => {
      run = { ...run, progress: JSON.parse(ev.data) };
      render((current = run));
    });
    source.addEventListener('steps', (ev) => {
      const last = steps.length ? steps[steps.length - 1].step : 0;
      for (const st of JSON.parse(ev.data)) if (st.step > last) steps.push(st);
      render(current);
    });
    source.addEventListener('status', (ev) => {
      run = JSON.parse(ev.data);
      render((current = run));
      if (run.status !== 'running') {
        live.textContent = '';
        source.close();
      }
    });
  }
}

export async function comparePage() {
  layout('runs');
  const main = document.querySelector('main');
  const ids = (new URLSearchParams(location.search).get('ids') || '').split(',').filter(Boolean);
  if (ids.length < 2) {
    main.innerHTML =
      '<h1>Compare runs</h1><div class="card empty">Pick two or more runs on the <a href="/">runs page</a>.</div>';
    return;
  }
  const runs = await Promise.all(ids.map((id) => api(`/api/runs/${encodeURIComponent(id)}`)));
  const keys = [...new Set(runs.flatMap((r) => r.epochs.flatMap((e) => Object.keys(e.metrics))))];
  const params = [...new Set(runs.flatMap((r) => Object.keys(r.run.params)))];
  main.innerHTML = `<h1>Compare runs ${runs.map((r) => `#${r.run.id}`).join(', ')}</h1><div class="controls"><label>x axis <select id="xmode"><option value="epoch">epoch</option><option value="fraction">fraction of the run</option></select></label></div><div class="grid">${keys
    .map((k, i) => `<div class="card"><h2>${esc(k)}</h2><div id="cmp-${i}"></div></div>`)
    .join('')}</div><div class="card"><h2>Parameters and final metrics</h2><table><thead><tr><th></th>${runs
    .map((r) => `<th><a href="/runs/${r.run.id}">#${r.run.id} ${esc(r.run.name)}</a></th>`)
    .join(
      '',
    )}</tr></thead><tbody><tr><td>status</td>${runs.map((r) => `<td>${badge(r.run.status)}</td>`).join('')}</tr><tr><td>duration</td>${runs
    .map((r) => `<td>${duration(r.run.durationSeconds)}</td>`)
    .join('')}</tr>${params
    .map((p) => {
      const vals = runs.map((r) => JSON.stringify(r.run.params[p]));
      const differs = new Set(vals).size > 1;
      return `<tr${differs ? ' style="font-weight:600"' : ''}><td>${esc(p)}</td>${vals.map((v) => `<td>${esc(v ?? '–')}</td>`).join('')}</tr>`;
    })
    .join(
      '',
    )}${keys.map((k) => `<tr><td>${esc(k)}</td>${runs.map((r) => `<td>${fmt(r.run.summary[k])}</td>`).join('')}</tr>`).join('')}</tbody></table></div>`;
  // x: epochs, or the fraction of each run's epochs, so a 300-epoch run does not squash a 5-epoch one.
  const xmode = document.getElementById('xmode');
  xmode.value = localStorage.getItem('lepton-compare-x') || 'epoch';
  const draw = () => {
    const fraction = xmode.value === 'fraction';
    keys.forEach((k, i) =>
      lineChart(
        document.getElementById(`cmp-${i}`),
        runs.map((r, j) => {
          const total = r.run.params.epochs || r.epochs.length || 1;
          return {
            name: `#${r.run.id} ${r.run.name}`,
            color: COLORS[j % COLORS.length],
            points: r.epochs.map((e) => [fraction ? (e.epoch + 1) / total : e.epoch + 1, e.metrics[k]]),
          };
        }),
        { xLabel: fraction ? 'fraction of the run' : 'epoch', integerX: !fraction },
      ),
    );
  };
  xmode.addEventListener('change', () => {
    localStorage.setItem('lepton-compare-x', xmode.value);
    draw();
  });
  draw();
}

export async function modelsPage() {
  layout('models');
  const main = document.querySelector('main');
  const { models } = await api('/api/models');
  if (!models.length) {
    main.innerHTML =
      '<h1>Models</h1><div class="card empty">No registered models. Register one with <code>lepton models register &lt;folder&gt;</code>.</div>';
    return;
  }
  const shape = (s) => `[${s.map((d, i) => (d === null ? (i === 0 ? 'batch' : '?') : d)).join(', ')}]`;
  main.innerHTML = `<h1>Models</h1><div class="card"><table id="models"><thead><tr><th>name</th><th>version</th><th>inputs</th><th class="opt">outputs</th><th class="opt">labels</th><th>metrics</th><th class="opt">run</th><th class="opt">created</th><th></th></tr></thead><tbody>${models
    .slice()
    .reverse()
    .map(
      (m) =>
        `<tr><td><a href="/models/${encodeURIComponent(m.name)}">${esc(m.name)}</a></td><td>${m.version}</td><td>${m.signature.inputs
          .map((i) => `${esc(i.name)} ${shape(i.shape)}`)
          .join(
            '<br>',
          )}</td><td class="opt">${m.signature.outputs.map((o) => `${esc(o.name)} ${shape(o.shape)}`).join('<br>')}</td><td class="opt">${m.labels ? m.labels.length : '–'}</td><td>${
          Object.entries(m.metrics)
            .map(([k, v]) => `${esc(k)} ${fmt(v)}`)
            .join('<br>') || '–'
        }</td><td class="opt">${m.runId ? `<a href="/runs/${m.runId}">#${m.runId}</a>` : '–'}</td><td class="opt">${esc(m.createdAt.replace('T', ' ').slice(0, 19))}</td><td><a href="/models/${encodeURIComponent(m.name)}">playground&nbsp;→</a></td></tr>`,
    )
    .join('')}</tbody></table></div>`;
}

function showProbabilities(el, body) {
  if (!body.predictions) {
    el.innerHTML = `<pre>${esc(JSON.stringify(body.outputs, null, 1))}</pre>`;
    return;
  }
  const p = body.predictions[0];
  const names = p.top.reduce((m, t) => ((m[t.index] = t.label), m), {});
  const ranked = body.probabilities[0]
    .map((score, i) => ({ label: names[i] ?? window.__labels?.[i] ?? i, score }))
    .sort((a, b) => b.score - a.score);
  el.innerHTML = rankedLabels(ranked, body);
}

/** The best label as a heading, one bar per label ([{label, score}], best first) and the model's version. */
function rankedLabels(ranked, body) {
  return `<h2 id="prediction">${esc(ranked[0].label)} <span class="muted">${(100 * ranked[0].score).toFixed(1)}%</span></h2><div class="bars">${ranked
    .map(
      (r, k) =>
        `<div class="row${k === 0 ? ' top' : ''}"><span>${esc(r.label)}</span><span class="bar"><i style="width:${(100 * r.score).toFixed(1)}%"></i></span><span>${(100 * r.score).toFixed(1)}%</span></div>`,
    )
    .join('')}</div><p class="muted">${esc(body.model)}@${body.version}</p>`;
}

export async function playgroundPage() {
  layout('models');
  const main = document.querySelector('main');
  const name = decodeURIComponent(location.pathname.split('/').pop());
  let info;
  try {
    info = await api(`/api/models/${encodeURIComponent(name)}`);
  } catch (e) {
    main.innerHTML = `<h1>${esc(name)}</h1><div class="card error">${esc(e.message)}</div>`;
    return;
  }
  const m = info.latest;
  window.__labels = m.labels;
  const input = m.signature.inputs[0];
  const image = info.preprocessing && info.preprocessing.kind === 'image';
  const url = `/v1/models/${encodeURIComponent(name)}/predict`;
  const text = info.preprocessing && info.preprocessing.kind === 'text';
  main.innerHTML = `<h1>${esc(name)} <span class="muted">v${m.version} playground</span></h1>${
    info.speech
      ? `<div class="card">A speech recognition model: <a id="speak" href="/speak?model=${encodeURIComponent(name)}">speak to it with the microphone&nbsp;→</a></div>`
      : ''
  }<div class="card playground"><div id="input"></div><div id="result"><div class="empty">${
    text
      ? 'Type some text, then press the button.'
      : info.detector
        ? 'Upload a photo or scene: the boxes are drawn on it.'
        : image
          ? 'Draw or upload an image, then press Predict.'
          : 'Fill in the inputs, then press Predict.'
  }</div></div></div>
  <div class="card"><h2>Signature</h2><div class="kv">${m.signature.inputs
    .map(
      (i) =>
        `<div>input</div><div>${esc(i.name)} [${i.shape.map((d) => d ?? 'batch').join(', ')}] ${esc(i.dtype)}</div>`,
    )
    .join(
      '',
    )}${m.signature.outputs.map((o) => `<div>output</div><div>${esc(o.name)} [${o.shape.map((d) => d ?? 'batch').join(', ')}] ${esc(o.dtype)}</div>`).join('')}${
    m.labels ? `<div>labels</div><div>${m.labels.map(esc).join(', ')}</div>` : ''
  }</div><p class="muted">POST ${esc(url)} — see <a href="/docs">API docs</a></p></div><div id="evaluations"></div>`;
  evaluationSection(document.getElementById('evaluations'), info.evaluations);
  const result = document.getElementById('result');
  const run = async (init) => {
    try {
      showProbabilities(result, await api(url, { method: 'POST', ...init }));
    } catch (e) {
      result.innerHTML = `<div class="error">${esc(e.message)}</div>`;
    }
  };
  const box = document.getElementById('input');
  if (info.preprocessing && info.preprocessing.kind === 'text') {
    textPlayground(box, result, name, info.preprocessing.task, url);
  } else if (info.detector) {
    detectorPlayground(box, result, name);
  } else if (image) {
    box.innerHTML = `<canvas class="draw" id="canvas" width="280" height="280"></canvas><p><button id="predict">Predict</button> <button class="secondary" id="clear">Clear</button> <label class="button secondary" style="background:#e9ecf5;color:inherit">Upload<input type="file" id="file" accept="image/*" hidden></label></p><p class="muted">Draw in white on black (${info.preprocessing.width}×${info.preprocessing.height} after resizing).</p>`;
    const canvas = document.getElementById('canvas');
    const ctx = canvas.getContext('2d');
    const clear = () => {
      ctx.fillStyle = '#000';
      ctx.fillRect(0, 0, canvas.width, canvas.height);
    };
    clear();
    let drawing = false;
    const pos = (e) => {
      const r = canvas.getBoundingClientRect();
      return [((e.clientX - r.left) * canvas.width) / r.width, ((e.clientY - r.top) * canvas.height) / r.height];
    };
    canvas.addEventListener('pointerdown', (e) => {
      drawing = true;
      ctx.beginPath();
      ctx.moveTo(...pos(e));
    });
    canvas.addEventListener('pointermove', (e) => {
      if (!drawing) return;
      ctx.lineTo(...pos(e));
      ctx.strokeStyle = '#fff';
      ctx.lineWidth = 22;
      ctx.lineCap = 'round';
      ctx.lineJoin = 'round';
      ctx.stroke();
    });
    window.addEventListener('pointerup', () => (drawing = false));
    document.getElementById('clear').addEventListener('click', clear);
    document
      .getElementById('predict')
      .addEventListener('click', () =>
        canvas.toBlob((blob) => run({ body: blob, headers: { 'content-type': 'image/png' } }), 'image/png'),
      );
    document.getElementById('file').addEventListener('change', (e) => {
      const f = e.target.files[0];
      if (!f) return;
      const img = new Image();
      img.onload = () => {
        clear();
        ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
        run({ body: f, headers: { 'content-type': f.type || 'application/octet-stream' } });
      };
      img.src = URL.createObjectURL(f);
    });
  } else {
    const width = input.shape.length === 2 && input.shape[1] ? input.shape[1] : null;
    if (!width || m.signature.inputs.length !== 1) {
      box.innerHTML = `<p>Send JSON to this model:</p><textarea id="json" rows="8" cols="50">{"inputs": ${esc(JSON.stringify(Object.fromEntries(m.signature.inputs.map((i) => [i.name, []]))))}}</textarea><p><button id="predict">Predict</button></p>`;
      document
        .getElementById('predict')
        .addEventListener('click', () =>
          run({ body: document.getElementById('json').value, headers: { 'content-type': 'application/json' } }),
        );
    } else {
      const names = info.featureNames || Array.from({ length: width }, (_, i) => `${input.name}[${i}]`);
      box.innerHTML = `<form id="form"><div class="fields">${names
        .map((n, i) => `<label>${esc(n)}<input type="number" step="any" name="f${i}" value="0" required></label>`)
        .join('')}</div><button id="predict" type="submit">Predict</button></form>`;
      document.getElementById('form').addEventListener('submit', (e) => {
        e.preventDefault();
        const row = names.map((_, i) => Number(e.target.elements[`f${i}`].value));
        run({ body: JSON.stringify({ inputs: [row] }), headers: { 'content-type': 'application/json' } });
      });
    }
  }
}

/**
 * The speak page: the browser microphone (getUserMedia → an AudioContext at 16 kHz → an
 * AudioWorklet writing 16-bit PCM) streamed over a WebSocket to /v1/models/NAME/stream, with the
 * partial transcript and each final result shown as they arrive (protocol: docs/SERVING.md).
 */
export async function speakPage() {
  layout('speak');
  const main = document.querySelector('main');
  const { models } = await api('/api/models');
  const names = [...new Set(models.filter((m) => m.speech).map((m) => m.name))];
  if (!names.length) {
    main.innerHTML =
      '<h1>Speak</h1><div class="card empty">No speech recognition model is registered. Train one with <code>npx tsx examples/asr.ts</code> and register its folder with <code>lepton models register</code>.</div>';
    return;
  }
  const wanted = new URLSearchParams(location.search).get('model');
  main.innerHTML = `<h1>Speak</h1><div class="card speak"><p class="controls"><label>model <select id="model">${names
    .map((n) => `<option${n === wanted ? ' selected' : ''}>${esc(n)}</option>`)
    .join(
      '',
    )}</select></label><button id="start">Start</button><button id="stop" class="secondary" disabled>Stop</button><span id="status" data-state="idle">press Start and speak</span></p><p id="partial" class="partial"></p><ol id="finals" class="finals"></ol><p class="muted">The microphone's audio goes to <code>/v1/models/<span id="route">${esc(
    wanted && names.includes(wanted) ? wanted : names[0],
  )}</span>/stream</code> as 16 kHz 16-bit PCM over a WebSocket; the server answers partial and final transcripts.</p></div>`;
  const $ = (id) => document.getElementById(id);
  const select = $('model');
  select.addEventListener('change', () => ($('route').textContent = select.value));
  const status = (state, text) => {
    $('status').dataset.state = state;
    $('status').textContent = text;
  };
  let session = null;
  const stopAudio = () => {
    if (!session) return;
    session.stream.getTracks().forEach((t) => t.stop());
    session.node.port.onmessage = null;
    session.source.disconnect();
    session.context.close().catch(() => {});
  };
  $('start').addEventListener('click', async () => {
    $('start').disabled = true;
    $('partial').textContent = '';
    $('finals').innerHTML = '';
    try {
      const stream = await navigator.mediaDevices.getUserMedia({
        audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false },
      });
      // Browsers that cannot run a 16 kHz context use their own rate; the start message names it.
      let context;
      try {
        context = new AudioContext({ sampleRate: 16000 });
      } catch {
        context = new AudioContext();
      }
      await context.audioWorklet.addModule('/static/speak-worklet.js');
      const source = context.createMediaStreamSource(stream);
      const node = new AudioWorkletNode(context, 'pcm16', {
        processorOptions: { frame: Math.round(context.sampleRate / 10) },
      });
      const query = token() ? `?access_token=${encodeURIComponent(token())}` : '';
      const ws = new WebSocket(
        `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/v1/models/${encodeURIComponent(select.value)}/stream${query}`,
      );
      session = { stream, context, source, node, ws };
      ws.onopen = () => ws.send(JSON.stringify({ type: 'start', sampleRate: context.sampleRate }));
      node.port.onmessage = (e) => {
        if (ws.readyState === WebSocket.OPEN) ws.send(e.data);
      };
      source.connect(node);
      // The worklet runs only while the graph pulls it: it writes silence to the speakers.
      node.connect(context.destination);
      ws.onmessage = (e) => {
        const m = JSON.parse(e.data);
        if (m.type === 'ready') status('listening', `listening (${m.model} v${m.version}, ${context.sampleRate} Hz)`);
        else if (m.type === 'partial') $('partial').textContent = m.text;
        else if (m.type === 'final') {
          $('partial').textContent = '';
          if (m.text) {
            const li = document.createElement('li');
            li.textContent = m.text;
            li.title = m.words.map((w) => `${w.word} ${w.start.toFixed(2)}–${w.end.toFixed(2)} s`).join('\n');
            li.dataset.end = String(m.end);
            $('finals').append(li);
          }
        } else if (m.type === 'error') status('error', m.error);
      };
      ws.onclose = (e) => {
        stopAudio();
        session = null;
        if ($('status').dataset.state !== 'error')
          status(
            e.code === 1000 ? 'done' : 'error',
            e.code === 1000 ? 'done' : `closed (${e.code}${e.reason ? `: ${e.reason}` : ''})`,
          );
        $('start').disabled = false;
        $('stop').disabled = true;
      };
      $('stop').disabled = false;
      status('connecting', 'connecting…');
    } catch (e) {
      stopAudio();
      session = null;
      status('error', `microphone: ${e.message}`);
      $('start').disabled = false;
    }
  });
  $('stop').addEventListener('click', () => {
    if (!session) return;
    $('stop').disabled = true;
    status('finishing', 'finishing…');
    // Stop capturing, then ask for the last final result; the server closes the socket after it.
    const { ws } = session;
    stopAudio();
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'end' }));
  });
}

/**
 * Text models: a text box. Classifiers show one bar per label; language models stream their
 * continuation token by token (server-sent events read from the fetch body, since EventSource
 * cannot POST), and Stop cancels the generation on the server by closing the stream.
 */
function textPlayground(box, result, name, task, predictUrl) {
  if (task === 'translation') return translationPlayground(box, result, name);
  const generate = task === 'text-generation';
  box.innerHTML = `<textarea id="text" rows="6" cols="48" placeholder="${generate ? 'A prompt to continue' : 'Text to classify'}"></textarea><p>${
    generate
      ? '<label>new tokens <input type="number" id="tokens" value="40" min="1" max="512" style="width:5em"></label> <label><input type="checkbox" id="sample"> sample</label> <button id="run">Generate</button> <button class="secondary" id="stop" disabled>Stop</button>'
      : '<button id="run">Classify</button>'
  }</p>`;
  const input = document.getElementById('text');
  if (!generate) {
    document.getElementById('run').addEventListener('click', async () => {
      try {
        const body = await api(predictUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ text: input.value, top_k: 1000 }),
        });
        result.innerHTML = rankedLabels(body.predictions[0], body);
      } catch (e) {
        result.innerHTML = `<div class="error">${esc(e.message)}</div>`;
      }
    });
    return;
  }
  const runButton = document.getElementById('run');
  const stopButton = document.getElementById('stop');
  let controller;
  stopButton.addEventListener('click', () => controller?.abort());
  runButton.addEventListener('click', async () => {
    controller = new AbortController();
    runButton.disabled = true;
    stopButton.disabled = false;
    result.innerHTML = `<p class="generated"><span class="prompt">${esc(input.value)}</span><span id="generated"></span></p><p class="muted" id="gen-status">generating…</p>`;
    const out = document.getElementById('generated');
    const status = document.getElementById('gen-status');
    try {
      const res = await fetch(`/v1/models/${encodeURIComponent(name)}/generate`, {
        method: 'POST',
        signal: controller.signal,
        headers: { 'content-type': 'application/json', ...authHeaders() },
        body: JSON.stringify({
          prompt: input.value,
          max_new_tokens: Number(document.getElementById('tokens').value),
          do_sample: document.getElementById('sample').checked,
          stream: true,
        }),
      });
      if (!res.ok) throw new Error((await res.json().catch(() => ({}))).error || `${res.status} ${res.statusText}`);
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = JSON.parse(/^data: (.*)$/m.exec(block)?.[1] ?? 'null');
          if (event === 'token') out.textContent += data.text;
          else if (event === 'done') status.textContent = `done — ${data.model}@${data.version}`;
          else if (event === 'error') throw new Error(data.error);
        }
      }
    } catch (e) {
      status.textContent = e.name === 'AbortError' ? 'stopped' : '';
      if (e.name !== 'AbortError') result.insertAdjacentHTML('beforeend', `<div class="error">${esc(e.message)}</div>`);
    } finally {
      runButton.disabled = false;
      stopButton.disabled = true;
    }
  });
}

/** Translation models: a text box (one sentence per line), the beam width, and the translations. */
function translationPlayground(box, result, name) {
  box.innerHTML =
    '<textarea id="text" rows="6" cols="48" placeholder="Text to translate (one sentence per line)"></textarea><p><label>beams <input type="number" id="beams" value="4" min="1" max="16" style="width:4em"></label> <button id="run">Translate</button></p>';
  const input = document.getElementById('text');
  const runButton = document.getElementById('run');
  runButton.addEventListener('click', async () => {
    const texts = input.value.split('\n').filter((line) => line.trim());
    if (!texts.length) return;
    runButton.disabled = true;
    result.innerHTML = '<p class="muted">translating…</p>';
    try {
      const body = await api(`/v1/models/${encodeURIComponent(name)}/translate`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ texts, num_beams: Number(document.getElementById('beams').value) }),
      });
      result.innerHTML = `<ol class="translations">${body.translations
        .map((t, i) => `<li><span class="muted">${esc(texts[i])}</span><br><b>${esc(t.translation_text)}</b></li>`)
        .join('')}</ol><p class="muted">${esc(body.model)}@${body.version}</p>`;
    } catch (e) {
      result.innerHTML = `<div class="error">${esc(e.message)}</div>`;
    } finally {
      runButton.disabled = false;
    }
  });
}

/**
 * Object detectors: an uploaded image with the server's boxes drawn over it on a canvas, and the
 * list of detections (class, score, box) under it; the score slider asks the server again.
 */
function detectorPlayground(box, result, name) {
  box.innerHTML =
    '<p><label class="button">Upload an image<input type="file" id="file" accept="image/*" hidden></label></p><p><label>lowest score <input type="range" id="score" min="0" max="1" step="0.05" value="0.3"> <span id="score-value">0.30</span></label></p>';
  const colours = ['#e6194b', '#3cb44b', '#4363d8', '#f58231', '#911eb4', '#42d4f4', '#f032e6', '#9a6324'];
  let file;
  const detect = async () => {
    if (!file) return;
    const score = Number(document.getElementById('score').value);
    try {
      const body = await api(`/v1/models/${encodeURIComponent(name)}/detect?score=${score}`, {
        method: 'POST',
        headers: { 'content-type': file.type || 'application/octet-stream' },
        body: file,
      });
      const found = body.detections[0];
      const img = new Image();
      img.onload = () => {
        const scale =
          Math.min(1, 480 / Math.max(img.width, img.height)) *
          Math.max(1, Math.floor(320 / Math.max(img.width, img.height)));
        result.innerHTML = `<canvas id="boxes" width="${Math.round(img.width * scale)}" height="${Math.round(img.height * scale)}"></canvas><p id="detections">${found.length} detection${found.length === 1 ? '' : 's'}</p><ol class="detections">${found
          .map(
            (d) =>
              `<li style="color:${colours[d.label % colours.length]}">${esc(d.class_name)} ${(100 * d.score).toFixed(1)}% <span class="muted">[${d.box.map((v) => v.toFixed(0)).join(', ')}]</span></li>`,
          )
          .join('')}</ol>`;
        const ctx = document.getElementById('boxes').getContext('2d');
        ctx.imageSmoothingEnabled = false;
        ctx.drawImage(img, 0, 0, img.width * scale, img.height * scale);
        ctx.lineWidth = 2;
        ctx.font = '12px sans-serif';
        for (const d of found) {
          const [x1, y1, x2, y2] = d.box.map((v) => v * scale);
          ctx.strokeStyle = ctx.fillStyle = colours[d.label % colours.length];
          ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
          ctx.fillText(`${d.class_name} ${d.score.toFixed(2)}`, x1 + 2, Math.max(12, y1 - 3));
        }
      };
      img.src = URL.createObjectURL(file);
    } catch (e) {
      result.innerHTML = `<div class="error">${esc(e.message)}</div>`;
    }
  };
  document.getElementById('file').addEventListener('change', (e) => {
    file = e.target.files[0];
    detect();
  });
  const slider = document.getElementById('score');
  slider.addEventListener(
    'input',
    () => (document.getElementById('score-value').textContent = Number(slider.value).toFixed(2)),
  );
  slider.addEventListener('change', detect);
}
