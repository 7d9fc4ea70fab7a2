import { type ReactNode, useState } from 'react';
import type { RouteDef } from './router';
import { Link, match, useLocation } from './router';
import { type Locale, useI18n } from './i18n';
import { hasRole, internal, useSession } from './session';
import { type Theme, useTheme } from './theme';

/** The frame of every page: skip link, brand, the navigation the user's roles allow,
 *  language and theme, sign-out. At phone width the navigation folds behind a button. */
export function Layout({ routes, children }: { routes: RouteDef[]; children: ReactNode }) {
  const { t, locale, setLocale } = useI18n();
  const { me, signOut } = useSession();
  const [theme, setTheme] = useTheme();
  const [open, setOpen] = useState(false);
  const path = useLocation().split('?')[0];
  const nav = me ? routes.filter((r) => r.nav && hasRole(me, r.roles)) : [];
  // The entry the current page belongs to: the longest one whose path starts the location.
  const current = nav.filter((r) => match(r.path, path) !== null || path.startsWith(`${r.path}/`))
    .sort((a, b) => b.path.length - a.path.length)[0];
  return (
    <>
      <a className="skip-link" href="#main">{t('app.skip')}</a>
      <header className="top">
        <p className="brand">
          <span aria-hidden="true" className="brand-mark">▲</span> {t('app.name')}
          {internal ? <span className="brand-sub"> {t('app.internal')}</span> : null}
        </p>
        {nav.length > 0 ? (
          <button type="button" className="menu-button" aria-expanded={open} aria-controls="main-nav"
            onClick={() => setOpen(!open)}>{t('nav.menu')}</button>
        ) : null}
        <nav id="main-nav" aria-label={t('app.nav')} className={open ? 'open' : ''}>
          <ul>
            {nav.map((r) => (
              <li key={r.path}>
                <Link to={r.path} ariaCurrent={r === current}>{t(r.nav as string)}</Link>
              </li>
            ))}
          </ul>
        </nav>
        <div className="prefs">
          <label className="visually-hidden" htmlFor="pref-lang">{t('prefs.language')}</label>
          <select id="pref-lang" value={locale} onChange={(e) => setLocale(e.target.value as Locale)}>
            <option value="en" lang="en">English</option>
            <option value="ru" lang="ru">Русский</option>
          </select>
          <label className="visually-hidden" htmlFor="pref-theme">{t('prefs.theme')}</label>
          <select id="pref-theme" value={theme} onChange={(e) => setTheme(e.target.value as Theme)}>
            {(['system', 'light', 'dark'] as Theme[]).map((k) => <option key={k} value={k}>{t(`prefs.theme.${k}`)}</option>)}
          </select>
          {me ? (
            <button type="button" className="link-button" onClick={() => void signOut()}>{t('session.signOut')}</button>
          ) : null}
        </div>
      </header>
      <main id="main" onClick={() => setOpen(false)}>{children}</main>
    </>
  );
}
