// What the ML pages get from the internal GraphQL API (gateway/internal/schema/models.py and
// inference.py; the persisted operations in gateway/internal/persisted_queries.graphql).
// Inference inputs and outputs are health-derived and never come here.

import { useCallback } from 'react';
import { useT } from '../../core/i18n';

export interface Model {
  id: string;
  type: string;
  version: string;
  path?: string;
  checksum: string | null;
  featureSchema: number | null;
  metrics: Record<string, unknown>;
  status: string;
  createdAt: string;
  createdBy?: string | null;
  deployedAt: string | null;
  deployedBy?: string | null;
  previousId: string | null;
}

export interface Deployment {
  action: string;
  fromVersion: string | null;
  toVersion: string;
  actor: string | null;
  at: string;
}

export interface ServeLatency {
  version: string;
  answers: number;
  p50Ms: number;
  p95Ms: number;
  maxMs: number;
  lastAt: string;
}

export interface ServeApp {
  type: string;
  status: string;
  registered: string | null;
  serving: string | null;
  batching: boolean | null;
  answeredMs: number | null;
  latency: ServeLatency[];
}

export interface ServeStatus {
  checkedAt: string;
  windowMinutes: number;
  detail: string | null;
  apps: ServeApp[];
}

export interface Inference {
  id: string;
  at: string;
  modelType: string;
  modelVersion: string;
  userId: string | null;
  workoutId: string | null;
  triggerId: string | null;
  latencyMs: number;
}

/** A metric as people read it: a fraction to 3 places, a count as it is. */
export function fmtMetric(v: unknown): string {
  if (typeof v !== 'number' || !Number.isFinite(v)) return v === null || v === undefined ? '–' : String(v);
  return Number.isInteger(v) ? String(v) : v.toFixed(3);
}

export const fmtMs = (v: number | null | undefined): string =>
  (v === null || v === undefined || !Number.isFinite(v) ? '–' : v < 10 ? `${v.toFixed(1)} ms` : `${Math.round(v)} ms`);

/** Words for a value the API gives as a code (`prefix` + code), or the code itself when
 *  there are none (a status or model type added after this page was written). */
export function useLabel(prefix: string): (code: string) => string {
  const t = useT();
  return useCallback((code: string) => {
    const key = `${prefix}${code}`;
    const text = t(key);
    return text === key ? code : text;
  }, [t, prefix]);
}

export const useStatusLabel = (): ((status: string) => string) => useLabel('ml.serve.status.');
export const useTypeLabel = (): ((type: string) => string) => useLabel('ml.type.');

/** The model types Ray Serve runs (serve/control.py TYPES), to filter the log by. */
export const MODEL_TYPES = ['risk', 'recommend'] as const;
