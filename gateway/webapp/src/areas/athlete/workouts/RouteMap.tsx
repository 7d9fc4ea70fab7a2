// A workout's route as SVG vectors: longitude and latitude projected equirectangularly at
// the track's mean latitude (x = lon·cos φ̄, y = lat: true to scale for the few kilometres
// of a workout), fitted to the box. Map tiles lie underneath only when the operator set a
// tile server (config.tile_url); their corners are projected the same way, so the line
// stays on the roads (Web Mercator and this projection agree at this scale).

import { useMemo } from 'react';
import { useWidth } from '../../../core/charts';
import { config } from '../../../core/config';
import { fmtDistance } from '../../../core/format';
import { useT } from '../../../core/i18n';

const PAD_PX = 14;
const MAX_TILES = 64;

interface Projection { x: (lon: number) => number; y: (lat: number) => number; lon: (x: number) => number; lat: (y: number) => number; scale: number; k: number }

function project(coords: [number, number][], w: number, h: number): Projection {
  let minLon = Infinity, maxLon = -Infinity, minLat = Infinity, maxLat = -Infinity, sumLat = 0;
  for (const [lon, lat] of coords) {
    minLon = Math.min(minLon, lon); maxLon = Math.max(maxLon, lon);
    minLat = Math.min(minLat, lat); maxLat = Math.max(maxLat, lat);
    sumLat += lat;
  }
  const k = Math.cos(((sumLat / coords.length) * Math.PI) / 180);
  const spanX = Math.max((maxLon - minLon) * k, 1e-6);
  const spanY = Math.max(maxLat - minLat, 1e-6);
  const scale = Math.min((w - 2 * PAD_PX) / spanX, (h - 2 * PAD_PX) / spanY);
  const cx = ((minLon + maxLon) / 2) * k, cy = (minLat + maxLat) / 2;
  return {
    x: (lon) => w / 2 + (lon * k - cx) * scale,
    y: (lat) => h / 2 - (lat - cy) * scale,
    lon: (x) => ((x - w / 2) / scale + cx) / k,
    lat: (y) => cy - (y - h / 2) / scale,
    scale, k,
  };
}

/** The path's points at least a pixel apart: what a screen can show of 10,000 fixes. */
function pathData(coords: [number, number][], p: Projection): string {
  const parts: string[] = [];
  let lx = NaN, ly = NaN;
  coords.forEach(([lon, lat], i) => {
    const x = p.x(lon), y = p.y(lat);
    if (i > 0 && i < coords.length - 1 && Math.abs(x - lx) < 1 && Math.abs(y - ly) < 1) return;
    parts.push(`${i === 0 ? 'M' : 'L'}${x.toFixed(1)} ${y.toFixed(1)}`);
    lx = x; ly = y;
  });
  return parts.join('');
}

const tileLat = (y: number, n: number) => (Math.atan(Math.sinh(Math.PI * (1 - (2 * y) / n))) * 180) / Math.PI;

function tilesFor(p: Projection, w: number, h: number): { href: string; x: number; y: number; w: number; h: number }[] {
  if (!config.tile_url) return [];
  const pxPerDegLon = p.scale * p.k;
  const z = Math.max(0, Math.min(19, Math.floor(Math.log2((pxPerDegLon * 360) / 256))));
  const n = 2 ** z;
  const tx = (lon: number) => Math.floor(((lon + 180) / 360) * n);
  const ty = (lat: number) => {
    const r = (lat * Math.PI) / 180;
    return Math.floor(((1 - Math.log(Math.tan(r) + 1 / Math.cos(r)) / Math.PI) / 2) * n);
  };
  const x0 = tx(p.lon(0)), x1 = tx(p.lon(w)), y0 = ty(p.lat(0)), y1 = ty(p.lat(h));
  if ((x1 - x0 + 1) * (y1 - y0 + 1) > MAX_TILES) return [];
  const out = [];
  for (let x = x0; x <= x1; x += 1) {
    for (let y = y0; y <= y1; y += 1) {
      const left = p.x((x / n) * 360 - 180), right = p.x(((x + 1) / n) * 360 - 180);
      const top = p.y(tileLat(y, n)), bottom = p.y(tileLat(y + 1, n));
      const href = config.tile_url.replace('{z}', String(z)).replace('{x}', String(x)).replace('{y}', String(y));
      out.push({ href, x: left, y: top, w: right - left, h: bottom - top });
    }
  }
  return out;
}

const metres = (a: [number, number], b: [number, number]): number => {
  const k = Math.cos((((a[1] + b[1]) / 2) * Math.PI) / 180);
  return Math.hypot((b[0] - a[0]) * k, b[1] - a[1]) * 111_195;
};

/**
 * The path without out-and-back GPS spikes: a fix far from both its neighbours while they
 * are close to each other. The metrics reject such fixes; the stored path (every k-th
 * sample, so its points are evenly spaced in time) still holds them. Far means many times
 * the path's median step, so a real turnaround, a step or two out and back, stays.
 */
export function withoutSpikes(coords: [number, number][]): [number, number][] {
  if (coords.length < 5) return coords;
  const steps = coords.slice(1).map((c, i) => metres(coords[i], c)).sort((a, b) => a - b);
  const far = Math.max(30, 8 * steps[Math.floor(steps.length / 2)]);
  const out: [number, number][] = [coords[0]];
  for (let i = 1; i < coords.length - 1; i += 1) {
    const a = out[out.length - 1], b = coords[i], c = coords[i + 1];
    const ab = metres(a, b), bc = metres(b, c);
    if (ab > far && bc > far && metres(a, c) < 0.5 * Math.min(ab, bc)) continue;
    out.push(b);
  }
  out.push(coords[coords.length - 1]);
  return out;
}

/** Kilometres between two points (for the text alternative's extent). */
function extentKm(coords: [number, number][]): { ew: number; ns: number } {
  const lons = coords.map((c) => c[0]), lats = coords.map((c) => c[1]);
  const mid = ((Math.min(...lats) + Math.max(...lats)) / 2) * (Math.PI / 180);
  return {
    ew: ((Math.max(...lons) - Math.min(...lons)) * 111.195 * Math.cos(mid)),
    ns: (Math.max(...lats) - Math.min(...lats)) * 111.195,
  };
}

export function RouteMap({ coords: given, distanceM }: { coords: [number, number][]; distanceM: number }) {
  const t = useT();
  const coords = useMemo(() => withoutSpikes(given), [given]);
  const [ref, width] = useWidth();
  const height = Math.round(Math.min(420, Math.max(220, width * 0.6)));
  const drawn = useMemo(() => {
    const p = project(coords, width, height);
    const first = coords[0], last = coords[coords.length - 1];
    return {
      d: pathData(coords, p), tiles: tilesFor(p, width, height),
      start: [p.x(first[0]), p.y(first[1])], end: [p.x(last[0]), p.y(last[1])],
    };
  }, [coords, width, height]);
  const ext = useMemo(() => extentKm(coords), [coords]);
  const clipId = `route-clip-${width}`;
  return (
    <figure className="route-map">
      <div ref={ref} className="route-box">
        <svg className="plot route" role="img" aria-labelledby="route-caption" width={width} height={height}
          viewBox={`0 0 ${width} ${height}`}>
          <defs><clipPath id={clipId}><rect x="0" y="0" width={width} height={height} /></clipPath></defs>
          <g clipPath={`url(#${clipId})`}>
            {drawn.tiles.map((tile) => (
              <image key={tile.href} href={tile.href} x={tile.x} y={tile.y} width={tile.w} height={tile.h}
                preserveAspectRatio="none" className="route-tile" />
            ))}
          </g>
          <path className="route-casing" d={drawn.d} />
          <path className="route-line" d={drawn.d} />
          <circle className="route-start" cx={drawn.start[0]} cy={drawn.start[1]} r="7" />
          <rect className="route-end" x={drawn.end[0] - 6} y={drawn.end[1] - 6} width="12" height="12" />
        </svg>
      </div>
      <figcaption id="route-caption">
        <strong>{t('athlete.workout.route')}</strong>{' '}
        {t('athlete.workout.routeText', {
          distance: fmtDistance(distanceM), ew: ext.ew.toFixed(1), ns: ext.ns.toFixed(1), points: coords.length,
        })}{' '}
        <span className="route-key"><span className="key-start" aria-hidden="true" /> {t('athlete.workout.start')}
          {' '}<span className="key-end" aria-hidden="true" /> {t('athlete.workout.finish')}</span>
      </figcaption>
    </figure>
  );
}
