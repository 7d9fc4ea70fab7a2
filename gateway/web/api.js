// The REST API, with the session's bearer token.

export class HttpError extends Error {
  constructor(status, body, retryAfter) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
    this.retryAfter = retryAfter;
  }
}

export const session = {
  token: sessionStorage.getItem('stride.token'),
  set(token) {
    this.token = token;
    if (token) sessionStorage.setItem('stride.token', token);
    else sessionStorage.removeItem('stride.token');
  },
};

/** JSON in, JSON out; a non-2xx answer throws HttpError with the API's {code, message}. */
export async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (session.token) headers.Authorization = `Bearer ${session.token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const resp = await fetch(path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store',
  });
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!resp.ok) throw new HttpError(resp.status, data, resp.headers.get('Retry-After'));
  return data;
}
