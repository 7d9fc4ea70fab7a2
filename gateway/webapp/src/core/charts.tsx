// Line charts as SVG drawn from data (the CSP allows no chart library's inline styles), for
// every area: the athlete's workout charts, the coach's. A chart is as wide as its box, in
// real pixels (so its labels stay readable on a phone), and draws at most a few points per
// pixel column however long the series (a 3-hour 1 Hz workout is 10,800 points): each
// column keeps its first, lowest, highest and last point, so peaks survive the thinning.
// Every chart has its text alternative: the svg is role="img" named by its figcaption,
// which says what the chart shows in words; an optional data table shows the values.

import { type ReactNode, useId, useLayoutEffect, useMemo, useRef, useState } from 'react';
import { addMessages, useT } from './i18n';
import { clock } from './format';
import './charts.css';

addMessages({
  en: {
    'chart.summary': '{label}: lowest {min}, average {avg}, highest {max}.',
    'chart.summaryOne': 'Lowest {min}, average {avg}, highest {max}.',
    'chart.range': 'From {from} to {to}.',
    'chart.empty': 'No readings.',
    'chart.table': 'Show the values as a table',
    'chart.x': 'Time',
  },
  ru: {
    'chart.summary': '{label}: минимум {min}, в среднем {avg}, максимум {max}.',
    'chart.summaryOne': 'Минимум {min}, в среднем {avg}, максимум {max}.',
    'chart.range': 'С {from} до {to}.',
    'chart.empty': 'Нет данных.',
    'chart.table': 'Показать значения таблицей',
    'chart.x': 'Время',
  },
});

/** One point: x and y; y null is a gap (no reading), the line breaks there. */
export type Point = readonly [number, number | null];

export interface Series {
  label: string;
  points: readonly Point[];
  /** How a value reads (with its unit), for the axis, the summary and the table. */
  format?: (y: number) => string;
}

export interface LineChartProps {
  /** What the chart shows: its figcaption, and the name of its image. */
  title: string;
  series: Series[];
  /** The x range (e.g. shared by charts stacked over one time axis); default: the data's. */
  xDomain?: readonly [number, number];
  /** How an x value reads; default: elapsed seconds as h:mm:ss. */
  xFormat?: (x: number) => string;
  /** Time ticks (x in seconds at round minutes) or plain numeric ticks. */
  xTime?: boolean;
  /** Larger values lower (pace: a faster pace is higher up). */
  invertY?: boolean;
  /** y values are durations in seconds (pace): ticks at round seconds and minutes. */
  yTime?: boolean;
  /** The y axis spans at least this much, so a steady series reads as steady instead of
   *  its smallest wobble filling the height (e.g. 10 bpm of heart rate). */
  minSpan?: number;
  /** Height in pixels of the drawing. */
  height?: number;
  /** Replaces the generated summary sentence(s) of the figcaption. */
  summary?: ReactNode;
  /** Rows of the optional data table (evenly spaced points); 0: no table. */
  tableRows?: number;
  className?: string;
}

const MARGIN = { right: 14, top: 10, bottom: 24 };
/** Width of an axis label's character at the charts' 11 px (a little more than most fonts). */
const CHAR_PX = 6.6;
const TIME_STEPS_S = [5, 10, 15, 30, 60, 120, 300, 600, 900, 1200, 1800, 3600, 7200, 10800, 21600, 43200, 86400];

/** The width of an element in CSS pixels, following its resizes. */
export function useWidth(fallback = 640): [(el: HTMLDivElement | null) => void, number] {
  const [width, setWidth] = useState(fallback);
  const observer = useRef<ResizeObserver | null>(null);
  const node = useRef<HTMLDivElement | null>(null);
  useLayoutEffect(() => () => observer.current?.disconnect(), []);
  const ref = (el: HTMLDivElement | null) => {
    if (el === node.current) return;
    observer.current?.disconnect();
    node.current = el;
    if (!el) return;
    const measure = () => {
      const w = Math.round(el.getBoundingClientRect().width);
      if (w > 0) setWidth((old) => (Math.abs(old - w) >= 1 ? w : old));
    };
    measure();
    observer.current = new ResizeObserver(measure);
    observer.current.observe(el);
  };
  return [ref, width];
}

/** At most four points a pixel column (first, lowest, highest, last), in x order; gaps kept. */
export function thin(points: readonly Point[], x0: number, x1: number, columns: number): Point[] {
  if (points.length <= columns * 4 || x1 <= x0) return points.slice();
  const out: Point[] = [];
  const perColumn = (x1 - x0) / columns;
  let col = Number.NaN;
  let bucket: Point[] = [];
  const flush = () => {
    if (bucket.length === 0) return;
    if (bucket.length <= 4) { out.push(...bucket); bucket = []; return; }
    let lo = bucket[0], hi = bucket[0];
    for (const p of bucket) {
      if (p[1] === null) continue;
      if (lo[1] === null || p[1] < lo[1]) lo = p;
      if (hi[1] === null || p[1] > hi[1]) hi = p;
    }
    const keep = [bucket[0], lo, hi, bucket[bucket.length - 1]];
    keep.sort((a, b) => a[0] - b[0]);
    for (let i = 0; i < keep.length; i += 1) if (i === 0 || keep[i] !== keep[i - 1]) out.push(keep[i]);
    bucket = [];
  };
  for (const p of points) {
    if (p[1] === null) { flush(); out.push(p); col = Number.NaN; continue; }
    const c = Math.floor((p[0] - x0) / perColumn);
    if (c !== col) { flush(); col = c; }
    bucket.push(p);
  }
  flush();
  return out;
}

export interface Stats { min: number; max: number; avg: number; count: number }

/** Lowest, highest and mean of the readings (null when there are none). */
export function stats(points: readonly Point[]): Stats | null {
  let min = Infinity, max = -Infinity, sum = 0, count = 0;
  for (const [, y] of points) {
    if (y === null || !Number.isFinite(y)) continue;
    if (y < min) min = y;
    if (y > max) max = y;
    sum += y;
    count += 1;
  }
  return count ? { min, max, avg: sum / count, count } : null;
}

function niceStep(span: number, count: number): number {
  const raw = span / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const n = raw / mag;
  return (n < 1.5 ? 1 : n < 3 ? 2 : n < 7 ? 5 : 10) * mag;
}

function ticks(lo: number, hi: number, count: number, time: boolean): number[] {
  if (!(hi > lo)) return [lo];
  const step = time ? (TIME_STEPS_S.find((s) => (hi - lo) / s <= count) ?? niceStep(hi - lo, count))
    : niceStep(hi - lo, count);
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  // A range narrower than one round step (a steady pace): one tick, in its middle.
  return out.length ? out : [Number(((lo + hi) / 2).toPrecision(4))];
}

function pathOf(points: readonly Point[], sx: (x: number) => number, sy: (y: number) => number): string {
  const parts: string[] = [];
  let pen = false;
  for (const [x, y] of points) {
    if (y === null) { pen = false; continue; }
    parts.push(`${pen ? 'L' : 'M'}${sx(x).toFixed(1)} ${sy(y).toFixed(1)}`);
    pen = true;
  }
  return parts.join('');
}

const plain = (y: number) => (Math.abs(y) >= 100 ? String(Math.round(y)) : y.toFixed(1));

/** A line chart of one or more series over a shared x axis, with its text alternative. */
export function LineChart({ title, series, xDomain, xFormat = clock, xTime = true, invertY = false,
  yTime = false, minSpan = 0, height = 180, summary, tableRows = 0, className }: LineChartProps) {
  const t = useT();
  const captionId = useId();
  const [ref, width] = useWidth();
  const all = useMemo(() => series.flatMap((s) => s.points), [series]);
  const xs = useMemo(() => {
    if (xDomain) return xDomain;
    let lo = Infinity, hi = -Infinity;
    for (const [x] of all) { if (x < lo) lo = x; if (x > hi) hi = x; }
    return Number.isFinite(lo) ? [lo, hi === lo ? lo + 1 : hi] as const : [0, 1] as const;
  }, [all, xDomain]);
  const each = useMemo(() => series.map((s) => stats(s.points)), [series]);
  const fmt = (i: number) => series[i]?.format ?? plain;
  const yFormat = fmt(0);
  const plotH = Math.max(40, height - MARGIN.top - MARGIN.bottom);
  const drawn = useMemo(() => {
    const found = each.filter((s): s is Stats => s !== null);
    if (!found.length) return null;
    let lo = Math.min(...found.map((s) => s.min));
    let hi = Math.max(...found.map((s) => s.max));
    const widen = Math.max(minSpan, 1e-9) - (hi - lo);
    if (widen > 0) { lo -= widen / 2; hi += widen / 2; }
    if (hi - lo < 1e-9) { lo -= 1; hi += 1; }
    const pad = (hi - lo) * 0.06;
    lo -= pad; hi += pad;
    const yTicks = ticks(lo, hi, Math.max(2, Math.floor(plotH / 40)), yTime);
    const left = Math.ceil(Math.max(...yTicks.map((y) => yFormat(y).length)) * CHAR_PX) + 10;
    const plotW = Math.max(40, width - left - MARGIN.right);
    const xTicks = ticks(xs[0], xs[1], Math.max(2, Math.floor(plotW / 90)), xTime);
    const sx = (x: number) => left + ((x - xs[0]) / (xs[1] - xs[0])) * plotW;
    const sy = (y: number) => MARGIN.top + (invertY ? (y - lo) / (hi - lo) : (hi - y) / (hi - lo)) * plotH;
    const paths = series.map((s) => pathOf(thin(s.points, xs[0], xs[1], plotW), sx, sy));
    return { yTicks, xTicks, sx, sy, paths, left, plotW };
  }, [each, series, xs, width, plotH, invertY, xTime, yTime, yFormat, minSpan]);

  const generated = series.map((s, i) => {
    const st = each[i];
    const values = st ? { label: s.label, min: fmt(i)(st.min), avg: fmt(i)(st.avg), max: fmt(i)(st.max) } : null;
    if (series.length === 1) return values ? t('chart.summaryOne', values) : t('chart.empty');
    return values ? t('chart.summary', values) : `${s.label}: ${t('chart.empty')}`;
  }).join(' ');
  const range = t('chart.range', { from: xFormat(xs[0]), to: xFormat(xs[1]) });

  return (
    <figure className={`chart ${className ?? ''}`}>
      <div ref={ref} className="chart-box">
        <svg className="plot" role="img" aria-labelledby={captionId} width={width} height={height}
          viewBox={`0 0 ${width} ${height}`}>
          {drawn ? (
            <>
              {drawn.yTicks.map((y) => (
                <g key={`y${y}`}>
                  <line className="grid-line" x1={drawn.left} x2={drawn.left + drawn.plotW} y1={drawn.sy(y)} y2={drawn.sy(y)} />
                  <text className="axis-label" x={drawn.left - 6} y={drawn.sy(y) + 4} textAnchor="end">{yFormat(y)}</text>
                </g>
              ))}
              {drawn.xTicks.map((x) => {
                const at = drawn.sx(x);
                // The outermost labels stay inside the box.
                const anchor = at > width - 24 ? 'end' : at < drawn.left + 12 ? 'start' : 'middle';
                return <text key={`x${x}`} className="axis-label" x={at} y={height - 6} textAnchor={anchor}>{xFormat(x)}</text>;
              })}
              <line className="grid-line" x1={drawn.left} x2={drawn.left + drawn.plotW} y1={MARGIN.top + plotH} y2={MARGIN.top + plotH} />
              {drawn.paths.map((d, i) => (
                <path key={series[i].label} className={`series-${(i % 4) + 1} series-line`} d={d} data-series={series[i].label} />
              ))}
            </>
          ) : (
            <text className="note" x={width / 2} y={height / 2} textAnchor="middle">{t('chart.empty')}</text>
          )}
        </svg>
      </div>
      <figcaption id={captionId}>
        <strong className="chart-title">{title}</strong>{' '}
        {series.length > 1 ? (
          <span className="chart-legend">
            {series.map((s, i) => <span key={s.label} className={`legend-${(i % 4) + 1}`}>{s.label}</span>)}
          </span>
        ) : null}
        <span className="chart-summary">{summary ?? `${generated} ${drawn ? range : ''}`}</span>
      </figcaption>
      {tableRows > 0 && drawn ? <ChartTable series={series} rows={tableRows} xFormat={xFormat} fmt={fmt} title={title} /> : null}
    </figure>
  );
}

function ChartTable({ series, rows, xFormat, fmt, title }: {
  series: Series[]; rows: number; xFormat: (x: number) => string; fmt: (i: number) => (y: number) => string; title: string;
}) {
  const t = useT();
  const first = series[0].points;
  const step = Math.max(1, Math.ceil(first.length / rows));
  const picked = first.filter((_, i) => i % step === 0);
  const at = (s: Series, x: number) => s.points.find((p) => p[0] >= x)?.[1] ?? null;
  return (
    <details className="chart-table">
      <summary>{t('chart.table')}</summary>
      <div className="table-wrap" tabIndex={0} role="region" aria-label={title}>
        <table>
          <caption className="visually-hidden">{title}</caption>
          <thead>
            <tr><th scope="col">{t('chart.x')}</th>{series.map((s) => <th scope="col" className="num" key={s.label}>{s.label}</th>)}</tr>
          </thead>
          <tbody>
            {picked.map(([x]) => (
              <tr key={x}>
                <th scope="row">{xFormat(x)}</th>
                {series.map((s, i) => {
                  const y = at(s, x);
                  return <td className="num" key={s.label}>{y === null ? '–' : fmt(i)(y)}</td>;
                })}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </details>
  );
}
