// Line and bar charts for the benchmark report, drawn as plain SVG from result series (no browser,
// no canvas) and rasterised to PNG with resvg, so `docs/benchmarks.md` shows the same pictures on
// GitHub and offline.
import { Resvg } from '@resvg/resvg-js';
import type { Series } from './result';

export interface ChartOptions {
  title: string;
  width?: number;
  height?: number;
  /** Axis titles; default: the first series' xLabel / yLabel. */
  xLabel?: string;
  yLabel?: string;
  /** Dashed horizontal lines, e.g. a target. */
  refLines?: { y: number; label: string }[];
  /** Dashed vertical lines (line charts): a target on the x axis, the moment of a fault. */
  xRefLines?: { x: number; label: string }[];
  /** Start the y axis at zero (default true): throughput and memory read wrong otherwise. */
  yFromZero?: boolean;
  /** Bar charts: the label of each category (an x value); default the number itself. */
  categoryLabel?: (x: number) => string;
}

export const DEFAULT_WIDTH = 800;
export const DEFAULT_HEIGHT = 420;

// Okabe–Ito: tells series apart for colour-blind readers too.
export const PALETTE = ['#0072B2', '#E69F00', '#009E73', '#D55E00', '#CC79A7', '#56B4E9', '#F0E442', '#000000'];
const REF_COLOUR = '#C0392B';
const FONT = `font-family="DejaVu Sans, Helvetica, Arial, sans-serif"`;

const MARGIN = { left: 78, right: 24, top: 56, bottom: 60 };
const LEGEND_ROW = 18;

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/** Compact, readable tick and value labels: 12k, 1.5M, 0.25, 1,250. */
export function formatNumber(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const a = Math.abs(n);
  if (a >= 1e6) return `${trim(n / 1e6)}M`;
  if (a >= 1e4) return `${trim(n / 1e3)}k`;
  if (a >= 1000) return Math.round(n).toLocaleString('en-US');
  if (a >= 100) return String(Math.round(n));
  if (a >= 10) return trim(n, 1);
  return trim(n, 2);
}

function trim(n: number, digits = 1): string {
  return String(Math.round(n * 10 ** digits) / 10 ** digits);
}

/** One format for every tick of an axis (0, 2k, …, 10k rather than 0, 2,000, …, 10k). */
export function tickFormatter(ticks: readonly number[]): (n: number) => string {
  const top = Math.max(...ticks.map(Math.abs));
  if (top >= 1e6) return (n) => (n === 0 ? '0' : `${trim(n / 1e6, 2)}M`);
  if (top >= 1e4) return (n) => (n === 0 ? '0' : `${trim(n / 1e3, 1)}k`);
  return formatNumber;
}

/** About `count` round tick values spanning [min, max] (steps of 1, 2, 2.5 or 5 × 10^k). */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return [0, 1];
  if (min === max) {
    const pad = min === 0 ? 1 : Math.abs(min) * 0.1;
    min -= pad;
    max += pad;
  }
  const raw = (max - min) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const first = Math.floor(min / step) * step;
  const ticks: number[] = [];
  for (let v = first; v <= max + step * 1e-9; v += step) ticks.push(Math.round(v / step) * step);
  if (ticks[ticks.length - 1] < max - step * 1e-9) ticks.push(ticks[ticks.length - 1] + step);
  return ticks;
}

interface Frame {
  width: number;
  height: number;
  plot: { x0: number; y0: number; x1: number; y1: number };
}

function frame(opts: ChartOptions, legendRows: number): Frame {
  const width = opts.width ?? DEFAULT_WIDTH;
  const height = opts.height ?? DEFAULT_HEIGHT;
  const top = MARGIN.top + Math.max(0, legendRows - 1) * LEGEND_ROW;
  return { width, height, plot: { x0: MARGIN.left, y0: top, x1: width - MARGIN.right, y1: height - MARGIN.bottom } };
}

/** Lays legend entries out in rows under the title; returns the SVG and the number of rows. */
function legend(labels: readonly string[], width: number): { svg: string; rows: number } {
  // One series: the title already names it.
  if (labels.length <= 1) return { svg: '', rows: 0 };
  const parts: string[] = [];
  let x = MARGIN.left;
  let row = 0;
  for (const [i, label] of labels.entries()) {
    const w = 26 + label.length * 6.6;
    if (x + w > width - MARGIN.right && x > MARGIN.left) {
      row++;
      x = MARGIN.left;
    }
    const y = 40 + row * LEGEND_ROW;
    parts.push(
      `<rect x="${x}" y="${y - 9}" width="14" height="10" fill="${PALETTE[i % PALETTE.length]}"/>`,
      `<text x="${x + 19}" y="${y}" font-size="11" ${FONT} fill="#333">${escapeXml(label)}</text>`,
    );
    x += w;
  }
  return { svg: parts.join(''), rows: row + 1 };
}

function shell(f: Frame, opts: ChartOptions, body: string, legendSvg: string, xLabel: string, yLabel: string): string {
  const { x0, y0, x1, y1 } = f.plot;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${f.width}" height="${f.height}" viewBox="0 0 ${f.width} ${f.height}">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    title(opts.title, f.width),
    legendSvg,
    body,
    `<line x1="${x0}" y1="${y1}" x2="${x1}" y2="${y1}" stroke="#333" stroke-width="1"/>`,
    `<line x1="${x0}" y1="${y0}" x2="${x0}" y2="${y1}" stroke="#333" stroke-width="1"/>`,
    `<text x="${(x0 + x1) / 2}" y="${f.height - 14}" text-anchor="middle" font-size="12" ${FONT} fill="#333">${escapeXml(xLabel)}</text>`,
    `<text transform="translate(16 ${(y0 + y1) / 2}) rotate(-90)" text-anchor="middle" font-size="12" ${FONT} fill="#333">${escapeXml(yLabel)}</text>`,
    `</svg>`,
  ].join('\n');
}

/** The title, smaller when long and cut when still too long (DejaVu Sans Bold: ~0.62 em a character). */
function title(text: string, width: number): string {
  const room = width - 24;
  let size = 15;
  while (size > 11 && text.length * size * 0.62 > room) size--;
  const max = Math.floor(room / (size * 0.62));
  const shown = text.length > max ? `${text.slice(0, max - 1)}…` : text;
  return `<text x="${width / 2}" y="22" text-anchor="middle" font-size="${size}" font-weight="bold" ${FONT} fill="#222">${escapeXml(shown)}</text>`;
}

function noData(f: Frame): string {
  const { x0, y0, x1, y1 } = f.plot;
  return `<text x="${(x0 + x1) / 2}" y="${(y0 + y1) / 2}" text-anchor="middle" font-size="14" ${FONT} fill="#888">no data</text>`;
}

function yAxis(f: Frame, ticks: readonly number[], sy: (v: number) => number): string {
  const { x0, x1 } = f.plot;
  const label = tickFormatter(ticks);
  return ticks
    .map((t) => {
      const y = sy(t);
      return (
        `<line x1="${x0}" y1="${y}" x2="${x1}" y2="${y}" stroke="#e6e6e6" stroke-width="1"/>` +
        `<line x1="${x0 - 5}" y1="${y}" x2="${x0}" y2="${y}" stroke="#333"/>` +
        `<text x="${x0 - 8}" y="${y + 4}" text-anchor="end" font-size="11" ${FONT} fill="#333">${label(t)}</text>`
      );
    })
    .join('');
}

function refLines(f: Frame, lines: ChartOptions['refLines'], sy: (v: number) => number): string {
  const { x0, x1 } = f.plot;
  return (lines ?? [])
    .map((r) => {
      const y = sy(r.y);
      return (
        `<line x1="${x0}" y1="${y}" x2="${x1}" y2="${y}" stroke="${REF_COLOUR}" stroke-width="1.5" stroke-dasharray="6 4"/>` +
        `<text x="${x1 - 4}" y="${y - 5}" text-anchor="end" font-size="11" ${FONT} fill="${REF_COLOUR}" stroke="#ffffff" stroke-width="3" paint-order="stroke">${escapeXml(r.label)}</text>`
      );
    })
    .join('');
}

function yRange(values: readonly number[], opts: ChartOptions): number[] {
  const finite = values.filter(Number.isFinite);
  let lo = finite.length ? Math.min(...finite) : 0;
  let hi = finite.length ? Math.max(...finite) : 1;
  if (opts.yFromZero ?? true) lo = Math.min(0, lo);
  if (hi === lo) hi = lo + (lo === 0 ? 1 : Math.abs(lo) * 0.1);
  return niceTicks(lo, hi * 1.04);
}

const finitePoints = (s: Series) => s.points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));

/** Several series on shared numeric axes, one polyline each (markers when points are few). */
export function lineChart(series: readonly Series[], opts: ChartOptions): string {
  const lg = legend(
    series.map((s) => s.label),
    opts.width ?? DEFAULT_WIDTH,
  );
  const f = frame(opts, lg.rows);
  const xLabel = opts.xLabel ?? series[0]?.xLabel ?? '';
  const yLabel = opts.yLabel ?? series[0]?.yLabel ?? '';
  const pts = series.flatMap(finitePoints);
  if (pts.length === 0) return shell(f, opts, noData(f), lg.svg, xLabel, yLabel);

  const { x0, y0, x1, y1 } = f.plot;
  const xs = [...pts.map((p) => p.x), ...(opts.xRefLines ?? []).map((r) => r.x)];
  const xTicks = niceTicks(Math.min(...xs), Math.max(...xs), 8);
  const yTicks = yRange([...pts.map((p) => p.y), ...(opts.refLines ?? []).map((r) => r.y)], opts);
  const [xmin, xmax] = [xTicks[0], xTicks[xTicks.length - 1]];
  const [ymin, ymax] = [yTicks[0], yTicks[yTicks.length - 1]];
  const sx = (v: number) => round1(x0 + ((v - xmin) / (xmax - xmin)) * (x1 - x0));
  const sy = (v: number) => round1(y1 - ((v - ymin) / (ymax - ymin)) * (y1 - y0));

  const xTick = tickFormatter(xTicks);
  const xAxis = xTicks
    .map((t) => {
      const x = sx(t);
      return (
        `<line x1="${x}" y1="${y1}" x2="${x}" y2="${y1 + 5}" stroke="#333"/>` +
        `<text x="${x}" y="${y1 + 18}" text-anchor="middle" font-size="11" ${FONT} fill="#333">${xTick(t)}</text>`
      );
    })
    .join('');
  const lines = series
    .map((s, i) => {
      const colour = PALETTE[i % PALETTE.length];
      const p = finitePoints(s);
      const path = p.map((q) => `${sx(q.x)},${sy(q.y)}`).join(' ');
      const markers = p.length <= 40 ? p.map((q) => `<circle cx="${sx(q.x)}" cy="${sy(q.y)}" r="3" fill="${colour}"/>`).join('') : '';
      return `<polyline points="${path}" fill="none" stroke="${colour}" stroke-width="2" stroke-linejoin="round"/>${markers}`;
    })
    .join('');
  const vertical = (opts.xRefLines ?? [])
    .map((r) => {
      const x = sx(r.x);
      return (
        `<line x1="${x}" y1="${y0}" x2="${x}" y2="${y1}" stroke="${REF_COLOUR}" stroke-width="1.5" stroke-dasharray="6 4"/>` +
        // Near the right edge the label goes on the line's left, so it is not cut off.
        `<text x="${x > x0 + (x1 - x0) * 0.7 ? x - 4 : x + 4}" y="${y0 + 12}" text-anchor="${x > x0 + (x1 - x0) * 0.7 ? 'end' : 'start'}" font-size="11" ${FONT} fill="${REF_COLOUR}" stroke="#ffffff" stroke-width="3" paint-order="stroke">${escapeXml(r.label)}</text>`
      );
    })
    .join('');
  return shell(f, opts, yAxis(f, yTicks, sy) + xAxis + lines + refLines(f, opts.refLines, sy) + vertical, lg.svg, xLabel, yLabel);
}

/**
 * Grouped bars: each distinct x value is a category, each series one bar in it (a sweep such as
 * claims/s per replica count, or one bar per system when each series holds a single point).
 */
export function barChart(series: readonly Series[], opts: ChartOptions): string {
  const lg = legend(
    series.map((s) => s.label),
    opts.width ?? DEFAULT_WIDTH,
  );
  const f = frame(opts, lg.rows);
  const xLabel = opts.xLabel ?? series[0]?.xLabel ?? '';
  const yLabel = opts.yLabel ?? series[0]?.yLabel ?? '';
  const pts = series.flatMap(finitePoints);
  if (pts.length === 0) return shell(f, opts, noData(f), lg.svg, xLabel, yLabel);

  const { x0, y0, x1, y1 } = f.plot;
  const categories = [...new Set(pts.map((p) => p.x))].sort((a, b) => a - b);
  const yTicks = yRange([...pts.map((p) => p.y), ...(opts.refLines ?? []).map((r) => r.y)], opts);
  const [ymin, ymax] = [yTicks[0], yTicks[yTicks.length - 1]];
  const sy = (v: number) => round1(y1 - ((v - ymin) / (ymax - ymin)) * (y1 - y0));
  const band = (x1 - x0) / categories.length;
  const barW = Math.min(60, (band * 0.75) / series.length);
  const label = opts.categoryLabel ?? formatNumber;

  const parts: string[] = [];
  for (const [ci, c] of categories.entries()) {
    // Only the series with a value here take a slot, so a one-bar-per-system chart stays centred.
    const here = series.flatMap((s, si) => {
      const p = finitePoints(s).find((q) => q.x === c);
      return p ? [{ si, p }] : [];
    });
    const groupX = x0 + band * ci + (band - barW * here.length) / 2;
    parts.push(
      `<text x="${round1(x0 + band * (ci + 0.5))}" y="${y1 + 18}" text-anchor="middle" font-size="11" ${FONT} fill="#333">${escapeXml(label(c))}</text>`,
    );
    for (const [slot, { si, p }] of here.entries()) {
      const top = sy(Math.max(p.y, ymin));
      const base = sy(Math.max(0, ymin));
      const x = round1(groupX + slot * barW);
      parts.push(
        `<rect class="bar" x="${x}" y="${Math.min(top, base)}" width="${round1(barW - 2)}" height="${round1(Math.abs(base - top))}" fill="${PALETTE[si % PALETTE.length]}"/>`,
        `<text x="${round1(x + (barW - 2) / 2)}" y="${Math.min(top, base) - 4}" text-anchor="middle" font-size="10" ${FONT} fill="#333">${formatNumber(p.y)}</text>`,
      );
    }
  }
  return shell(f, opts, yAxis(f, yTicks, sy) + parts.join('') + refLines(f, opts.refLines, sy), lg.svg, xLabel, yLabel);
}

const round1 = (v: number) => Math.round(v * 10) / 10;

/** Rasterises an SVG at its own size (width/height attributes) on white. */
export function svgToPng(svg: string): Buffer {
  const r = new Resvg(svg, {
    fitTo: { mode: 'original' },
    background: '#ffffff',
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' },
    logLevel: 'off',
  });
  return r.render().asPng();
}

/** Width and height from a PNG's IHDR, or null when the bytes are not a PNG. */
export function pngSize(png: Buffer): { width: number; height: number } | null {
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  if (png.length < 24 || !png.subarray(0, 8).equals(signature) || png.subarray(12, 16).toString('ascii') !== 'IHDR') return null;
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}
