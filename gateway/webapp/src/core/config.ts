// What the serving gateway told the page (a meta tag it fills in; gateway/web_api.py).

export interface AppConfig {
  /** `public` (athletes, coaches) or `internal` (admins, ML engineers: the internal gateway). */
  origin: 'public' | 'internal';
  /** A map tile URL template ({z}/{x}/{y}); empty: routes are drawn as vectors only. */
  tile_url: string;
  /** Where the other origin lives, if the operator said (a link, never fetched). */
  internal_url: string;
  public_url: string;
  /** Internal origin: the id (SHA-256) of each persisted GraphQL operation, by its name. */
  queries: Record<string, string>;
}

function read(): AppConfig {
  const fallback: AppConfig = { origin: 'public', tile_url: '', internal_url: '', public_url: '', queries: {} };
  const meta = document.querySelector('meta[name="stride-config"]');
  try {
    return { ...fallback, ...(JSON.parse(meta?.getAttribute('content') || '{}') as Partial<AppConfig>) };
  } catch {
    return fallback;
  }
}

export const config: AppConfig = read();
