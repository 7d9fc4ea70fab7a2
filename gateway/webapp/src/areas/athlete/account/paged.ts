// A cursor-paged list (X-Next-Cursor) that grows by "Show more" and can start over.

import { useCallback, useEffect, useState } from 'react';
import { apiPage } from '../../../core/api';

export interface Paged<T> {
  items: T[] | null;
  error: unknown;
  more: boolean;
  loadMore: () => void;
  reload: () => void;
}

export function usePaged<T>(path: string): Paged<T> {
  const [items, setItems] = useState<T[] | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setError(null);
    apiPage<T>(path).then(
      (page) => { if (live) { setItems(page.items); setNext(page.next); } },
      (err: unknown) => { if (live) setError(err); },
    );
    return () => { live = false; };
  }, [path, tick]);
  const loadMore = useCallback(() => {
    if (!next) return;
    const sep = path.includes('?') ? '&' : '?';
    apiPage<T>(`${path}${sep}cursor=${encodeURIComponent(next)}`).then(
      (page) => { setItems((old) => [...(old ?? []), ...page.items]); setNext(page.next); },
      (err: unknown) => setError(err),
    );
  }, [path, next]);
  const reload = useCallback(() => setTick((n) => n + 1), []);
  return { items, error, more: next !== null, loadMore, reload };
}
