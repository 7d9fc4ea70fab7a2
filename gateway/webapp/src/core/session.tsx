// Who is signed in: the token (core/api.ts keeps it for the tab) and the profile with roles.
// The public origin signs in at /v1/auth/login; the internal origin (admin, ML) at its own
// /internal/v1/auth/login, whose sessions the public gateway refuses and vice versa.

import { createContext, type ReactNode, useCallback, useContext, useEffect, useMemo, useState } from 'react';
import { api, ApiError, graphql, onUnauthorized, tokenStore } from './api';
import { config } from './config';

export interface Me {
  id: string;
  email: string;
  first_name?: string | null;
  last_name?: string | null;
  roles: string[];
}

export const internal = config.origin === 'internal';
const PATHS = internal
  ? { login: '/internal/v1/auth/login', logout: '/internal/v1/auth/logout' }
  : { login: '/v1/auth/login', logout: '/v1/auth/logout' };

/** Who the token belongs to: the profile (public), or the GraphQL `Me` (internal). */
async function whoAmI(): Promise<Me> {
  if (!internal) return api<Me>('GET', '/v1/users/me');
  const { me } = await graphql<{ me: { userId: string; roles: string[] } }>('Me');
  return { id: me.userId, email: '', roles: me.roles };
}

interface Session {
  me: Me | null;
  /** Still finding out whether the stored token is valid. */
  loading: boolean;
  /** Why the user was sent to sign in (session ended, signed out). */
  notice: string | null;
  signIn: (email: string, password: string, otp?: string) => Promise<void>;
  /** Adopt a token obtained elsewhere (an OIDC sign-in). */
  adopt: (token: string) => Promise<void>;
  signOut: (notice?: string) => Promise<void>;
  refresh: () => Promise<void>;
}

const SessionContext = createContext<Session | null>(null);

export function SessionProvider({ children }: { children: ReactNode }) {
  const [me, setMe] = useState<Me | null>(null);
  const [loading, setLoading] = useState(() => tokenStore.get() !== null);
  const [notice, setNotice] = useState<string | null>(null);

  const refresh = useCallback(async () => {
    if (!tokenStore.get()) { setMe(null); setLoading(false); return; }
    try {
      setMe(await whoAmI());
    } catch (err) {
      if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
        tokenStore.set(null);
        setMe(null);
      }
    } finally {
      setLoading(false);
    }
  }, []);

  useEffect(() => { void refresh(); }, [refresh]);
  useEffect(() => onUnauthorized(() => {
    tokenStore.set(null);
    setMe(null);
    setNotice('session.ended');
  }), []);

  const adopt = useCallback(async (token: string) => {
    tokenStore.set(token);
    setNotice(null);
    setLoading(true);
    await refresh();
  }, [refresh]);

  const signIn = useCallback(async (email: string, password: string, otp?: string) => {
    const body = otp ? { email, password, otp } : { email, password };
    const { token } = await api<{ token: string }>('POST', PATHS.login, body);
    await adopt(token);
  }, [adopt]);

  const signOut = useCallback(async (why = 'session.signedOut') => {
    if (tokenStore.get()) { try { await api('POST', PATHS.logout); } catch { /* ends anyway */ } }
    tokenStore.set(null);
    setMe(null);
    setNotice(why);
  }, []);

  const value = useMemo(() => ({ me, loading, notice, signIn, adopt, signOut, refresh }),
    [me, loading, notice, signIn, adopt, signOut, refresh]);
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): Session {
  const ctx = useContext(SessionContext);
  if (!ctx) throw new Error('useSession outside SessionProvider');
  return ctx;
}

export const hasRole = (me: Me | null, roles?: string[]): boolean =>
  !roles || roles.length === 0 || (me !== null && roles.some((r) => me.roles.includes(r)));
