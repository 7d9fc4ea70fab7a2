// Ray Serve as it is now (`ServeStatus`), asked again every few seconds while the page is
// open — faster while a deploy or rollback runs, so its progress shows — and never twice at
// once (the next ask is scheduled when the last one answered).

import { useCallback, useEffect, useRef, useState } from 'react';
import { graphql } from '../../core/api';
import type { ServeStatus } from './types';

export const IDLE_MS = 10_000;
export const BUSY_MS = 2_000;

export interface LiveServe {
  status: ServeStatus | null;
  error: unknown;
  refresh: () => void;
}

export function useServeStatus(busy: boolean): LiveServe {
  const [status, setStatus] = useState<ServeStatus | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [tick, setTick] = useState(0);
  const timer = useRef<number | undefined>(undefined);

  useEffect(() => {
    let live = true;
    const ask = () => {
      graphql<{ serveStatus: ServeStatus }>('ServeStatus').then(
        (d) => { if (live) { setStatus(d.serveStatus); setError(null); } },
        (err: unknown) => { if (live) setError(err); },
      ).finally(() => {
        if (live) timer.current = window.setTimeout(ask, busy ? BUSY_MS : IDLE_MS);
      });
    };
    ask();
    return () => { live = false; window.clearTimeout(timer.current); };
  }, [busy, tick]);

  const refresh = useCallback(() => setTick((n) => n + 1), []);
  return { status, error, refresh };
}
