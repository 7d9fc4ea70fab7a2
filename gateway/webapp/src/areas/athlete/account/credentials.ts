// Calls that carry a password or a code the user just typed (re-authentication, password
// change). Core's `api` treats every 401 as "the session ended" and signs the user out,
// but these routes also answer 401 for a wrong password or code: that is a refusal of what
// was typed, shown next to the field, and the session goes on.

import { api, ApiError, tokenStore } from '../../../core/api';

/** 401 codes that refuse the typed credentials, not the session. */
const TYPED_REFUSALS = new Set(['invalid_credentials', 'mfa_required', 'invalid_otp', 'totp_required']);

export async function credentialCall<T = unknown>(method: string, path: string, body: object): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json', 'Content-Type': 'application/json' };
  const token = tokenStore.get();
  if (token) headers.Authorization = `Bearer ${token}`;
  const resp = await fetch(path, { method, headers, body: JSON.stringify(body), cache: 'no-store' });
  const text = await resp.text();
  let data: unknown = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (resp.ok) return data as T;
  const err = new ApiError(resp.status, data, resp.headers.get('Retry-After'));
  if (resp.status === 401 && !TYPED_REFUSALS.has(err.code)) {
    // The session itself was refused: let core's `api` see a 401 of its own, so the app
    // goes to sign-in as it does for any other ended session.
    await api('GET', '/v1/users/me').catch(() => undefined);
  }
  throw err;
}
