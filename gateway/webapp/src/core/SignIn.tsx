import { type FormEvent, useEffect, useRef, useState } from 'react';
import { api, ApiError } from './api';
import { useT } from './i18n';
import { internal, useSession } from './session';
import { SignUp } from './SignUp';
import { Alert, Field, Page, useErrorText, useLoad } from './ui';

/** Password (and TOTP) sign-in; on the public origin also the configured OIDC providers. */
export function SignIn() {
  const t = useT();
  const errorText = useErrorText();
  const { signIn, notice } = useSession();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [otp, setOtp] = useState('');
  const [needOtp, setNeedOtp] = useState(internal);
  const [error, setError] = useState<string | null>(notice ? t(notice) : null);
  const [busy, setBusy] = useState(false);
  const otpRef = useRef<HTMLInputElement>(null);
  const passwordRef = useRef<HTMLInputElement>(null);
  const [focusOtp, setFocusOtp] = useState(0);
  const [signingUp, setSigningUp] = useState(false);
  useEffect(() => { if (focusOtp) otpRef.current?.focus(); }, [focusOtp]);
  const providers = useLoad(() => (internal ? Promise.resolve([]) : api<string[]>('GET', '/v1/auth/oidc/providers')), []);

  async function submit(ev: FormEvent) {
    ev.preventDefault();
    setError(null);
    if (!email.trim() || !password) { setError(t('signin.missing')); return; }
    setBusy(true);
    try {
      await signIn(email.trim(), password, otp.trim() || undefined);
    } catch (err) {
      if (err instanceof ApiError && (err.code === 'mfa_required' || err.code === 'invalid_otp')) {
        setNeedOtp(true);
        setError(t(err.code === 'mfa_required' ? 'signin.otpNeeded' : 'signin.otpWrong'));
        setFocusOtp((n) => n + 1);   // focused once React has shown the field
      } else {
        setError(err instanceof ApiError && err.status === 401 ? t('signin.wrong') : errorText(err));
        passwordRef.current?.focus();
      }
    } finally {
      setBusy(false);
    }
  }

  if (signingUp) {
    return (
      <Page title={t('signup.title')}>
        <div className="card narrow"><SignUp onCancel={() => setSigningUp(false)} /></div>
      </Page>
    );
  }

  return (
    <Page title={t(internal ? 'signin.internalTitle' : 'signin.title')}>
      <div className="card narrow">
        {internal ? <p className="hint">{t('signin.internalHint')}</p> : null}
        <form onSubmit={submit} noValidate aria-describedby={error ? 'signin-error' : undefined}>
          <Field label={t('signin.email')} id="email" name="email" type="email" autoComplete="username"
            required value={email} onChange={(e) => setEmail(e.target.value)} />
          <Field label={t('signin.password')} id="password" name="password" type="password"
            autoComplete="current-password" required value={password} ref={passwordRef}
            onChange={(e) => setPassword(e.target.value)} />
          {needOtp ? (
            <Field label={t('signin.otp')} id="otp" name="otp" inputMode="numeric" autoComplete="one-time-code"
              value={otp} ref={otpRef} onChange={(e) => setOtp(e.target.value)} />
          ) : null}
          <div id="signin-error"><Alert>{error}</Alert></div>
          <button type="submit" className="primary" disabled={busy}>{t('signin.submit')}</button>
        </form>
        {internal ? null : (
          <button type="button" className="secondary" onClick={() => setSigningUp(true)}>{t('signup.open')}</button>
        )}
        {providers.data && providers.data.length > 0 ? (
          <div className="oidc">
            <p className="hint">{t('signin.or')}</p>
            <ul className="plain">
              {providers.data.map((p) => (
                <li key={p}><a className="button" href={`/v1/auth/oidc/${encodeURIComponent(p)}/start`}>
                  {t('signin.with', { provider: p })}</a></li>
              ))}
            </ul>
          </div>
        ) : null}
      </div>
    </Page>
  );
}
