// A small client-side router: the app's pages live under /app/… (the gateway serves the
// same index.html for all of them), navigation goes through the History API.

import { type MouseEvent, type ReactNode, useEffect, useSyncExternalStore } from 'react';

export type Params = Record<string, string>;

export interface RouteDef {
  /** `/app/workouts/:id`; `:name` captures one path segment. */
  path: string;
  render: (params: Params) => ReactNode;
  /** Roles any one of which may open the page; none: every signed-in user. */
  roles?: string[];
  /** The origin the page exists on (admin and ML pages live on the internal one only). */
  origin?: 'public' | 'internal';
  /** In the navigation, under this message key. */
  nav?: string;
  /** Reachable without signing in. */
  public?: boolean;
}

const listeners = new Set<() => void>();
window.addEventListener('popstate', () => listeners.forEach((l) => l()));

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

const location = (): string => window.location.pathname + window.location.search;

/** The current path and query, re-rendering on every navigation. */
export function useLocation(): string {
  return useSyncExternalStore(subscribe, location);
}

export function navigate(to: string, { replace = false } = {}): void {
  if (to === location()) return;
  if (replace) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  listeners.forEach((l) => l());
}

export function match(pattern: string, path: string): Params | null {
  const want = pattern.split('/');
  const got = path.split('?')[0].replace(/\/+$/, '').split('/');
  if (want.length !== got.length) return null;
  const params: Params = {};
  for (let i = 0; i < want.length; i += 1) {
    if (want[i].startsWith(':')) {
      if (!got[i]) return null;
      params[want[i].slice(1)] = decodeURIComponent(got[i]);
    } else if (want[i] !== got[i]) return null;
  }
  return params;
}

/** The query parameters of the current location. */
export function useSearchParams(): URLSearchParams {
  return new URLSearchParams(useLocation().split('?')[1] ?? '');
}

export function Link({ to, children, className, ariaCurrent }: {
  to: string; children: ReactNode; className?: string; ariaCurrent?: boolean;
}) {
  const onClick = (ev: MouseEvent<HTMLAnchorElement>) => {
    if (ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
    ev.preventDefault();
    navigate(to);
  };
  return (
    <a href={to} onClick={onClick} className={className} aria-current={ariaCurrent ? 'page' : undefined}>
      {children}
    </a>
  );
}

/** Sends the browser elsewhere once rendered (e.g. to sign-in). */
export function Redirect({ to }: { to: string }) {
  useEffect(() => navigate(to, { replace: true }), [to]);
  return null;
}
