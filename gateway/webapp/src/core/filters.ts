// Filters of a list kept in the address (`?actor=…&since=…`): a filtered view can be
// bookmarked, shared and reached by Back, and the form shows what is applied. The admin and
// ML areas' journals and logs use it.

import { useCallback, useEffect, useState } from 'react';
import { query } from './api';
import { navigate, useLocation } from './router';

export type Filters<K extends string> = Record<K, string>;

export interface UrlFilters<K extends string> {
  /** What the address says now (each key, '' when absent). */
  applied: Filters<K>;
  /** The form's values, not yet applied. */
  draft: Filters<K>;
  set: (key: K, value: string) => void;
  /** Put `values` (default: the draft) in the address; the list follows it. */
  apply: (values?: Filters<K>) => void;
  clear: () => void;
}

export function useUrlFilters<K extends string>(keys: readonly K[]): UrlFilters<K> {
  const location = useLocation();
  const [path, search] = location.split('?');
  const params = new URLSearchParams(search ?? '');
  const applied = Object.fromEntries(keys.map((k) => [k, params.get(k) ?? ''])) as Filters<K>;
  const appliedKey = JSON.stringify(applied);
  const [draft, setDraft] = useState<Filters<K>>(applied);
  useEffect(() => { setDraft(JSON.parse(appliedKey) as Filters<K>); }, [appliedKey]);

  const set = useCallback((key: K, value: string) => setDraft((d) => ({ ...d, [key]: value })), []);
  const apply = useCallback((values?: Filters<K>) => {
    navigate(path + query((values ?? draft) as Record<string, string>));
  }, [path, draft]);
  const clear = useCallback(() => navigate(path), [path]);
  return { applied, draft, set, apply, clear };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (v: string): boolean => UUID.test(v.trim());

/** `2026-12-03T10:15` of an <input type="datetime-local"> (the browser's time zone) as ISO
 *  8601 UTC for the API; '' or a bad value gives null. */
export function localToIso(local: string): string | null {
  if (!local) return null;
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

/** Empty strings as absent (null) variables, trimmed; the API narrows only by what is set. */
export function variablesOf(values: Record<string, string>): Record<string, string | null> {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, v.trim() === '' ? null : v.trim()]));
}
