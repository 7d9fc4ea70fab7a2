// A cursor-paged list of the internal GraphQL API (`{items, nextCursor}`, newest first) that
// grows by "Show more" and starts over when its variables change or on reload. The admin and
// ML areas list users, sessions, groups, members, journals and the inference log this way.

import { useCallback, useEffect, useRef, useState } from 'react';
import { graphql } from './api';

export interface GqlPage<T> { items: T[]; nextCursor: string | null }

export interface PagedQuery<T> {
  /** null until the first page came (or when it failed). */
  items: T[] | null;
  error: unknown;
  /** A page is on its way (the first, a next one, or a reload). */
  loading: boolean;
  more: boolean;
  loadMore: () => void;
  reload: () => void;
}

/** Runs the persisted `operation` whose root field `field` answers a page; `variables`
 *  are compared by value, so an object literal does not refetch on every render. */
export function usePagedQuery<T>(operation: string, field: string,
  variables: Record<string, unknown>, enabled = true): PagedQuery<T> {
  const [items, setItems] = useState<T[] | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(enabled);
  const [tick, setTick] = useState(0);
  const key = JSON.stringify(variables);
  const generation = useRef(0);

  useEffect(() => {
    if (!enabled) { setLoading(false); return undefined; }
    const mine = ++generation.current;
    setError(null);
    setLoading(true);
    graphql<Record<string, GqlPage<T>>>(operation, JSON.parse(key) as Record<string, unknown>).then(
      (data) => {
        if (mine !== generation.current) return;
        setItems(data[field].items);
        setNext(data[field].nextCursor);
        setLoading(false);
      },
      (err: unknown) => {
        if (mine !== generation.current) return;
        setItems(null);
        setError(err);
        setLoading(false);
      },
    );
    return () => { generation.current += 1; };
  }, [operation, field, key, tick, enabled]);

  const loadMore = useCallback(() => {
    if (!next) return;
    const mine = generation.current;
    setLoading(true);
    graphql<Record<string, GqlPage<T>>>(operation, { ...(JSON.parse(key) as Record<string, unknown>), cursor: next }).then(
      (data) => {
        if (mine !== generation.current) return;
        setItems((old) => [...(old ?? []), ...data[field].items]);
        setNext(data[field].nextCursor);
        setLoading(false);
      },
      (err: unknown) => {
        if (mine !== generation.current) return;
        setError(err);
        setLoading(false);
      },
    );
  }, [operation, field, key, next]);

  const reload = useCallback(() => setTick((n) => n + 1), []);
  return { items, error, loading, more: next !== null, loadMore, reload };
}
