// A small line chart drawn by hand in inline SVG (no library, no inline style: strict CSP):
// axes with ticks, every point labelled with its value (or one in n when they are many), lines
// told apart by their dash and marker shape as well as colour, and — for everyone, screen
// readers first — a sentence that sums it up and the values in a table.
import { h, type Child } from '../dom';
import { formatDate, formatNumber, t } from '../i18n';
import { uid } from './form';

const SVG_NS = 'http://www.w3.org/2000/svg';

function s<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>, ...children: (SVGElement | string)[]): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.append(c);
  return el;
}

export interface ChartPoint {
  date: string;
  value: number;
}

export interface ChartLine {
  /** "Chiffre du haut (systolique)" — the legend and the table's column. */
  label: string;
  points: ChartPoint[];
  /** The second line is dashed, with square markers. */
  second?: boolean;
}

export interface ChartOptions {
  title: string;
  /** "kg", "mm Hg" */
  unit: string;
  lines: ChartLine[];
  testid?: string;
}

const W = 360;
const H = 230;
const M = { left: 44, right: 18, top: 22, bottom: 46 };

const time = (d: string) => Date.parse(d.length === 10 ? `${d}T12:00:00Z` : d);

/** 1, 2 or 5 × 10ⁿ: a tick step that gives about `count` ticks over `span`. */
function niceStep(span: number, count: number): number {
  const raw = span / Math.max(1, count);
  const pow = 10 ** Math.floor(Math.log10(raw));
  const f = raw / pow;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * pow;
}

export function lineChart(o: ChartOptions): HTMLElement {
  const lines = o.lines.map((l) => ({ ...l, points: l.points.filter((p) => Number.isFinite(p.value) && !Number.isNaN(time(p.date))).sort((a, b) => time(a.date) - time(b.date)) })).filter((l) => l.points.length);
  const all = lines.flatMap((l) => l.points);
  const captionId = uid('chart-title');
  const summaryId = uid('chart-summary');
  if (!all.length) return h('figure', { class: 'chart' });

  // Scales: time on x, the values on y with a margin, on round ticks.
  const t0 = Math.min(...all.map((p) => time(p.date)));
  const t1 = Math.max(...all.map((p) => time(p.date)));
  let lo = Math.min(...all.map((p) => p.value));
  let hi = Math.max(...all.map((p) => p.value));
  const pad = Math.max((hi - lo) * 0.15, Math.abs(hi) * 0.02, 1);
  lo -= pad;
  hi += pad;
  const step = niceStep(hi - lo, 4);
  lo = Math.floor(lo / step) * step;
  hi = Math.ceil(hi / step) * step;
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  const x = (d: string) => (t1 === t0 ? M.left + plotW / 2 : M.left + ((time(d) - t0) / (t1 - t0)) * plotW);
  const y = (v: number) => M.top + (1 - (v - lo) / (hi - lo)) * plotH;

  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart__svg', role: 'img', 'aria-labelledby': `${captionId} ${summaryId}`, focusable: 'false' });
  // Grid and the y axis's ticks.
  for (let v = lo; v <= hi + step / 2; v += step) {
    const yy = y(v);
    svg.append(
      s('line', { x1: M.left, x2: W - M.right, y1: yy, y2: yy, class: 'chart__grid' }),
      s('text', { x: M.left - 6, y: yy + 4, class: 'chart__tick', 'text-anchor': 'end' }, formatNumber(Math.round(v * 100) / 100)),
    );
  }
  // Axes.
  svg.append(
    s('line', { x1: M.left, x2: M.left, y1: M.top, y2: H - M.bottom, class: 'chart__axis' }),
    s('line', { x1: M.left, x2: W - M.right, y1: H - M.bottom, y2: H - M.bottom, class: 'chart__axis' }),
    s('text', { x: 4, y: 12, class: 'chart__tick chart__unit' }, o.unit),
  );
  // The x axis: the first and last dates (and one between when they are far apart).
  const dates = [...new Set(all.map((p) => p.date))].sort((a, b) => time(a) - time(b));
  const xTicks = dates.length > 2 ? [dates[0]!, dates[Math.floor((dates.length - 1) / 2)]!, dates[dates.length - 1]!] : dates;
  xTicks.forEach((d, i) => {
    const anchor = xTicks.length === 1 ? 'middle' : i === 0 ? 'start' : i === xTicks.length - 1 ? 'end' : 'middle';
    const xx = x(d);
    svg.append(
      s('line', { x1: xx, x2: xx, y1: H - M.bottom, y2: H - M.bottom + 5, class: 'chart__axis' }),
      s('text', { x: anchor === 'start' ? Math.max(xx, 4) : xx, y: H - M.bottom + 18, class: 'chart__tick', 'text-anchor': anchor }, formatDate(d.slice(0, 10), 'short')),
    );
  });
  // Lines, points and their labels (above for the first line, below for the second).
  const every = Math.max(1, Math.ceil(Math.max(...lines.map((l) => l.points.length)) / 8));
  for (const l of lines) {
    const cls = l.second ? 'chart__line chart__line--second' : 'chart__line';
    if (l.points.length > 1) svg.append(s('polyline', { points: l.points.map((p) => `${x(p.date).toFixed(1)},${y(p.value).toFixed(1)}`).join(' '), class: cls }));
    l.points.forEach((p, i) => {
      const px = x(p.date);
      const py = y(p.value);
      const tip = s('title', {}, `${formatDate(p.date)} : ${formatNumber(p.value)} ${o.unit}`);
      const marker = l.second
        ? s('rect', { x: px - 4, y: py - 4, width: 8, height: 8, class: 'chart__point chart__point--second' }, tip)
        : s('circle', { cx: px, cy: py, r: 4.5, class: 'chart__point' }, tip);
      svg.append(marker);
      const last = i === l.points.length - 1;
      if (i % every === 0 || last) {
        const anchor = px < M.left + 20 ? 'start' : px > W - M.right - 20 ? 'end' : 'middle';
        svg.append(s('text', { x: px, y: l.second ? py + 17 : py - 9, class: 'chart__label', 'text-anchor': anchor }, formatNumber(p.value)));
      }
    });
  }

  const legend: Child =
    lines.length > 1 &&
    h('ul', { class: 'chart__legend', role: 'list' },
      lines.map((l) => h('li', { class: ['chart__key', l.second && 'chart__key--second'] }, h('span', { class: 'chart__swatch', 'aria-hidden': 'true' }), l.label)));

  // The same data in words and in a table.
  const first = all.reduce((a, b) => (time(a.date) <= time(b.date) ? a : b));
  const lastDate = dates[dates.length - 1]!;
  const latest = lines.map((l) => `${lines.length > 1 ? `${l.label} ` : ''}${formatNumber(l.points[l.points.length - 1]!.value)} ${o.unit}`).join(', ');
  const sentence = dates.length > 1
    ? t('chart.summary', { n: dates.length, from: formatDate(first.date), to: formatDate(lastDate), latest })
    : t('chart.summaryOne', { date: formatDate(lastDate), latest });
  const rows = [...dates].reverse().map((d) =>
    h('tr', null,
      h('th', { scope: 'row' }, formatDate(d)),
      lines.map((l) => {
        const p = l.points.find((q) => q.date === d);
        return h('td', null, p ? `${formatNumber(p.value)} ${o.unit}` : '—');
      }),
    ),
  );
  return h(
    'figure',
    { class: 'chart', 'data-testid': o.testid },
    h('figcaption', { id: captionId, class: 'chart__title' }, o.title),
    svg,
    legend,
    h('p', { id: summaryId, class: 'chart__summary' }, sentence),
    h('details', { class: 'chart__data' },
      h('summary', null, t('chart.table')),
      h('div', { class: 'table-scroll' },
        h('table', { class: 'chart__table' },
          h('caption', { class: 'visually-hidden' }, o.title),
          h('thead', null, h('tr', null, h('th', { scope: 'col' }, t('chart.date')), lines.map((l) => h('th', { scope: 'col' }, l.label)))),
          h('tbody', null, rows),
        ),
      ),
    ),
  );
}
