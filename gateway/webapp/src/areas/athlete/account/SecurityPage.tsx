// Password and e-mail (POST /v1/users/me/password, POST /v1/users/me/email). Changing the
// password ends your other sessions; changing the e-mail needs your password given
// recently, which the re-authentication dialog asks for when the API wants it.

import { type FormEvent, useRef, useState } from 'react';
import { api, ApiError } from '../../../core/api';
import { useT } from '../../../core/i18n';
import { useSession } from '../../../core/session';
import { Alert, Card, Field, LoadState, useErrorText, useLoad } from '../../../core/ui';
import { AccountPage } from './AccountShell';
import { credentialCall } from './credentials';
import { fieldOf } from './fieldErrors';
import type { Profile } from './ProfilePage';
import { Cancelled, useReauth } from './reauth';
import { useFocusLater } from './focus';

type Status = { kind: 'ok' | 'error'; text: string } | null;

export function SecurityPage() {
  const t = useT();
  const reauth = useReauth();
  return (
    <AccountPage title={t('account.security.title')}>
      <div className="grid">
        <PasswordForm run={reauth.run} />
        <EmailForm run={reauth.run} />
      </div>
      {reauth.dialog}
    </AccountPage>
  );
}

type Run = <T>(fn: () => Promise<T>) => Promise<T>;

function PasswordForm({ run }: { run: Run }) {
  const t = useT();
  const errorText = useErrorText();
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [again, setAgain] = useState('');
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [status, setStatus] = useState<Status>(null);
  const [busy, setBusy] = useState(false);
  const refs = { current: useRef<HTMLInputElement>(null), next: useRef<HTMLInputElement>(null),
    again: useRef<HTMLInputElement>(null) };
  const focusLater = useFocusLater();

  function refuse(field: keyof typeof refs, text: string) {
    setErrors({ [field]: text });
    setStatus({ kind: 'error', text: t('account.password.notChanged') });
    focusLater(() => refs[field].current);
  }

  async function submit(ev: FormEvent) {
    ev.preventDefault();
    setErrors({});
    setStatus(null);
    if (!current) return refuse('current', t('account.password.currentMissing'));
    if (next.length < 12) return refuse('next', t('account.password.short'));
    if (next !== again) return refuse('again', t('account.password.mismatch'));
    setBusy(true);
    try {
      await run(() => credentialCall('POST', '/v1/users/me/password',
        { current_password: current, new_password: next }));
      setCurrent(''); setNext(''); setAgain('');
      setStatus({ kind: 'ok', text: t('account.password.changed') });
    } catch (err) {
      if (err instanceof Cancelled) return;
      if (err instanceof ApiError && err.code === 'invalid_credentials') refuse('current', t('account.password.wrong'));
      else if (fieldOf(err, ['new_password'])) refuse('next', t('account.password.short'));
      else setStatus({ kind: 'error', text: errorText(err) });
    } finally {
      setBusy(false);
    }
  }

  return (
    <Card title={t('account.password.title')}>
      <form onSubmit={submit} noValidate>
        <Field id="password-current" label={t('account.password.current')} type="password"
          autoComplete="current-password" value={current} ref={refs.current} error={errors.current}
          onChange={(e) => setCurrent(e.target.value)} />
        <Field id="password-new" label={t('account.password.new')} type="password" autoComplete="new-password"
          hint={t('account.password.hint')} value={next} ref={refs.next} error={errors.next}
          onChange={(e) => setNext(e.target.value)} />
        <Field id="password-again" label={t('account.password.again')} type="password"
          autoComplete="new-password" value={again} ref={refs.again} error={errors.again}
          onChange={(e) => setAgain(e.target.value)} />
        <button type="submit" className="primary" disabled={busy}>{t('account.password.submit')}</button>
        {status ? <Alert kind={status.kind}>{status.text}</Alert> : null}
      </form>
    </Card>
  );
}

function EmailForm({ run }: { run: Run }) {
  const t = useT();
  const errorText = useErrorText();
  const { refresh } = useSession();
  const loaded = useLoad(() => api<Profile>('GET', '/v1/users/me'), []);
  const [email, setEmail] = useState('');
  const [changedTo, setChangedTo] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [status, setStatus] = useState<Status>(null);
  const [busy, setBusy] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  const focusLater = useFocusLater();

  function refuse(text: string) {
    setError(text);
    setStatus({ kind: 'error', text: t('account.email.notChanged') });
    focusLater(() => input.current);
  }

  async function submit(ev: FormEvent) {
    ev.preventDefault();
    setError(null);
    setStatus(null);
    if (!email.trim()) return refuse(t('account.email.missing'));
    setBusy(true);
    try {
      const p = await run(() => api<Profile>('POST', '/v1/users/me/email', { email: email.trim() }));
      setChangedTo(p.email);
      setEmail('');
      setStatus({ kind: 'ok', text: t('account.email.changed', { email: p.email }) });
      void refresh();
    } catch (err) {
      if (err instanceof Cancelled) return;
      const code = err instanceof ApiError ? err.code : '';
      if (code === 'email_taken') refuse(t('account.email.taken'));
      else if (code === 'invalid_email' || fieldOf(err, ['email'])) refuse(t('account.email.invalid'));
      else setStatus({ kind: 'error', text: errorText(err) });
    } finally {
      setBusy(false);
    }
  }

  return (
    <Card title={t('account.email.title')}>
      <LoadState loaded={loaded}>
        {(p) => <p>{t('account.email.current', { email: changedTo ?? p.email })}</p>}
      </LoadState>
      <form onSubmit={submit} noValidate>
        <Field id="email-new" label={t('account.email.new')} type="email" autoComplete="email" value={email}
          ref={input} error={error} hint={t('account.email.hint')} onChange={(e) => setEmail(e.target.value)} />
        <button type="submit" className="primary" disabled={busy}>{t('account.email.submit')}</button>
        {status ? <Alert kind={status.kind}>{status.text}</Alert> : null}
      </form>
    </Card>
  );
}
