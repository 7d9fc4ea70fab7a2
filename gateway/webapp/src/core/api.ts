// The REST API of the origin that served the app, with the session's bearer token.

import { config } from './config';

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly body: unknown;
  readonly retryAfter: string | null;

  constructor(status: number, body: unknown, retryAfter: string | null) {
    const b = (body ?? {}) as { code?: unknown; message?: unknown };
    super(typeof b.message === 'string' ? b.message : `HTTP ${status}`);
    this.status = status;
    this.code = typeof b.code === 'string' ? b.code : `http_${status}`;
    this.body = body;
    this.retryAfter = retryAfter;
  }
}

const TOKEN_KEY = 'stride.token';

/** The bearer token lives for the tab only (sessionStorage), never in a URL or a cookie. */
export const tokenStore = {
  get: (): string | null => sessionStorage.getItem(TOKEN_KEY),
  set(token: string | null): void {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  },
};

type Listener = () => void;
const unauthorizedListeners = new Set<Listener>();
/** Called when any call answers 401: the session ended (expired, revoked, signed out elsewhere). */
export function onUnauthorized(listener: Listener): () => void {
  unauthorizedListeners.add(listener);
  return () => unauthorizedListeners.delete(listener);
}

export interface Page<T> { items: T[]; next: string | null }

/** The codes of a 401 that means the token no longer opens anything. */
const SESSION_ENDED = new Set(['unauthorized', 'wrong_audience', 'account_locked']);

async function call(method: string, path: string, body?: BodyInit | object,
  extraHeaders: Record<string, string> = {}): Promise<Response> {
  const headers: Record<string, string> = { Accept: 'application/json', ...extraHeaders };
  const token = tokenStore.get();
  if (token) headers.Authorization = `Bearer ${token}`;
  let payload: BodyInit | undefined;
  if (body instanceof FormData || body instanceof Blob) payload = body;
  else if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  const resp = await fetch(path, { method, headers, body: payload, cache: 'no-store' });
  if (!resp.ok) {
    const text = await resp.text();
    let data: unknown = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = null; }
    const error = new ApiError(resp.status, data, resp.headers.get('Retry-After'));
    // The session itself was refused (not, say, a wrong password on a form): it has ended.
    if (resp.status === 401 && token && SESSION_ENDED.has(error.code)) unauthorizedListeners.forEach((l) => l());
    throw error;
  }
  return resp;
}

/** JSON in, JSON out; a non-2xx answer throws ApiError with the API's {code, message}. */
export async function api<T = unknown>(method: string, path: string, body?: BodyInit | object): Promise<T> {
  const resp = await call(method, path, body);
  const text = await resp.text();
  return (text ? JSON.parse(text) : null) as T;
}

/** A page of a cursor-paged list: the items and the `X-Next-Cursor` for the next page. */
export async function apiPage<T>(path: string): Promise<Page<T>> {
  const resp = await call('GET', path);
  return { items: (await resp.json()) as T[], next: resp.headers.get('X-Next-Cursor') };
}

/** A persisted GraphQL operation on the internal origin, by name (gateway/internal/
 *  persisted_queries.graphql): the page sends only its id, which the gateway put in the
 *  page's config. A GraphQL error becomes an ApiError with the error's code. */
export async function graphql<T>(operation: string, variables: Record<string, unknown> = {}): Promise<T> {
  const id = config.queries[operation];
  if (!id) throw new ApiError(400, { code: 'unknown_operation', message: `no persisted operation ${operation}` }, null);
  const resp = await call('POST', '/graphql', {
    operationName: operation, variables, extensions: { persistedQuery: { version: 1, sha256Hash: id } },
  });
  const data = (await resp.json()) as {
    data?: T; errors?: { message: string; extensions?: { code?: string } }[];
  };
  if (data.errors?.length) {
    const first = data.errors[0];
    const code = first.extensions?.code ?? 'graphql_error';
    const status = code === 'unauthorized' || code === 'wrong_audience' ? 401 : code === 'forbidden' ? 403 : 400;
    if (status === 401) unauthorizedListeners.forEach((l) => l());
    throw new ApiError(status, { code, message: first.message }, null);
  }
  return data.data as T;
}

/** Query string from the set values of `params`. */
export function query(params: Record<string, string | number | boolean | null | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}
