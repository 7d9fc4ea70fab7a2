// What every account page shares: the page with the account's own navigation, and a
// button that copies a secret shown once (a device token, recovery codes).

import { type ReactNode, useEffect, useId, useRef, useState } from 'react';
import { useT } from '../../../core/i18n';
import { Link, useLocation } from '../../../core/router';
import { Page } from '../../../core/ui';

export const ACCOUNT_PAGES: [path: string, label: string][] = [
  ['/app/account', 'account.nav.profile'],
  ['/app/account/privacy', 'account.nav.privacy'],
  ['/app/account/security', 'account.nav.security'],
  ['/app/account/mfa', 'account.nav.mfa'],
  ['/app/account/devices', 'account.nav.devices'],
  ['/app/account/sessions', 'account.nav.sessions'],
];

export function AccountPage({ title, children }: { title: string; children: ReactNode }) {
  const t = useT();
  const path = useLocation().split('?')[0].replace(/\/+$/, '');
  return (
    <Page title={title}>
      <nav className="account-nav" aria-label={t('account.nav.label')}>
        <ul>
          {ACCOUNT_PAGES.map(([to, label]) => (
            <li key={to}><Link to={to} ariaCurrent={path === to}>{t(label)}</Link></li>
          ))}
        </ul>
      </nav>
      {children}
    </Page>
  );
}

/** Copies `text`; says so (announced) or, where the browser refuses, asks to copy by hand. */
export function CopyButton({ text, label }: { text: string; label: string }) {
  const t = useT();
  const [state, setState] = useState<'idle' | 'copied' | 'failed'>('idle');
  async function copy() {
    try {
      await navigator.clipboard.writeText(text);
      setState('copied');
    } catch {
      setState('failed');
    }
  }
  return (
    <span className="copy">
      <button type="button" className="secondary" onClick={() => void copy()}>{label}</button>
      <span role="status" className="hint">
        {state === 'copied' ? t('account.copy.done') : state === 'failed' ? t('account.copy.failed') : ''}
      </span>
    </span>
  );
}

/** A card that appears after an action (a secret to note, codes shown once): its heading
 *  takes focus, so keyboard and screen-reader users land on what just appeared. */
export function FocusCard({ title, children, className }: { title: string; children: ReactNode; className?: string }) {
  const id = useId();
  const h2 = useRef<HTMLHeadingElement>(null);
  useEffect(() => { h2.current?.focus(); }, []);
  return (
    <section className={`card ${className ?? ''}`} aria-labelledby={id}>
      <h2 id={id} ref={h2} tabIndex={-1}>{title}</h2>
      {children}
    </section>
  );
}
