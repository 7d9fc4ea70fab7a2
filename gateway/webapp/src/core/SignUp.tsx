// Creating an account (POST /v1/auth/register), then signing in with it. The consent to
// process health data (GDPR art. 9(2)(a)) is its own, unticked checkbox naming the current
// privacy policy (GET /v1/privacy/policy): without it the account works, and workouts are
// recorded without heart rate and SpO2 until it is given on the privacy page.

import { type FormEvent, useState } from 'react';
import { api, ApiError } from './api';
import { useT } from './i18n';
import { useSession } from './session';
import { Alert, Field, useErrorText, useLoad } from './ui';
import './signUpMessages';

interface Policy { version: string }

export function SignUp({ onCancel }: { onCancel: () => void }) {
  const t = useT();
  const errorText = useErrorText();
  const { signIn } = useSession();
  const policy = useLoad(() => api<Policy>('GET', '/v1/privacy/policy'), []);
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [birthDate, setBirthDate] = useState('');
  const [consent, setConsent] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(ev: FormEvent) {
    ev.preventDefault();
    setError(null);
    if (!email.trim() || password.length < 12) { setError(t('signup.missing')); return; }
    setBusy(true);
    try {
      await api('POST', '/v1/auth/register', {
        email: email.trim(), password,
        ...(birthDate ? { birth_date: birthDate } : {}),
        ...(consent && policy.data ? { health_consent: { policy_version: policy.data.version } } : {}),
      });
      await signIn(email.trim(), password);
    } catch (err) {
      setError(err instanceof ApiError && err.code === 'email_taken' ? t('signup.taken') : errorText(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form onSubmit={submit} noValidate aria-describedby={error ? 'signup-error' : undefined}>
      <Field label={t('signin.email')} id="signup-email" type="email" autoComplete="email" required
        value={email} onChange={(e) => setEmail(e.target.value)} />
      <Field label={t('signup.password')} hint={t('signup.password.hint')} id="signup-password"
        type="password" autoComplete="new-password" required value={password}
        onChange={(e) => setPassword(e.target.value)} />
      <Field label={t('signup.birthDate')} hint={t('signup.birthDate.hint')} id="signup-birth" type="date"
        value={birthDate} onChange={(e) => setBirthDate(e.target.value)} />
      <div className="field account-check">
        <div>
          <input id="signup-consent" type="checkbox" checked={consent} aria-describedby="signup-consent-hint"
            disabled={!policy.data} onChange={(e) => setConsent(e.target.checked)} />
          <label htmlFor="signup-consent">{t('signup.consent', { version: policy.data?.version ?? '…' })}</label>
        </div>
        <p id="signup-consent-hint" className="hint">{t('signup.consent.hint')}</p>
      </div>
      <div id="signup-error"><Alert>{error}</Alert></div>
      <div className="row">
        <button type="submit" className="primary" disabled={busy}>{t('signup.submit')}</button>
        <button type="button" className="secondary" onClick={onCancel}>{t('signup.back')}</button>
      </div>
    </form>
  );
}
