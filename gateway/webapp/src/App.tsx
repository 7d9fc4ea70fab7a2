import { Layout } from './core/Layout';
import { type RouteDef, match, Redirect, useLocation } from './core/router';
import { hasRole, useSession } from './core/session';
import { SignIn } from './core/SignIn';
import { OidcHandoff } from './core/OidcHandoff';
import { Page } from './core/ui';
import { useT } from './core/i18n';
import { config } from './core/config';
import { routes as athleteRoutes } from './areas/athlete/routes';
import { routes as coachRoutes } from './areas/coach/routes';
import { routes as adminRoutes } from './areas/admin/routes';
import { routes as mlRoutes } from './areas/ml/routes';

/** Every page of the app; each area lists its own. Pages of the other origin do not exist here. */
const ROUTES: RouteDef[] = [...athleteRoutes, ...coachRoutes, ...adminRoutes, ...mlRoutes]
  .filter((r) => (r.origin ?? 'public') === config.origin);

function Home() {
  const t = useT();
  const { me } = useSession();
  const first = ROUTES.find((r) => r.nav && hasRole(me, r.roles));
  if (first) return <Redirect to={first.path} />;
  return <Page title={t('home.title', { name: me?.first_name || me?.email || '' })}><p>{t('home.nothing')}</p></Page>;
}

function Message({ title, body }: { title: string; body: string }) {
  const t = useT();
  return <Page title={t(title)}><p>{t(body)}</p></Page>;
}

function Current() {
  const path = useLocation().split('?')[0];
  const { me, loading } = useSession();
  if (loading) return null;
  for (const r of ROUTES) {
    const params = match(r.path, path);
    if (params === null) continue;
    if (r.public) return <>{r.render(params)}</>;
    if (!me) return <SignIn />;
    if (!hasRole(me, r.roles)) return <Message title="forbidden.title" body="forbidden.body" />;
    return <>{r.render(params)}</>;
  }
  if (path === '/app/signin/oidc') return <OidcHandoff />;
  if (!me) return <SignIn />;   // signed in, the same address opens the page asked for
  if (path === '' || path === '/' || path === '/app') return <Home />;
  if (path === '/app/signin') return <Redirect to="/" />;
  return <Message title="notfound.title" body="notfound.body" />;
}

export function App() {
  return <Layout routes={ROUTES}><Current /></Layout>;
}

