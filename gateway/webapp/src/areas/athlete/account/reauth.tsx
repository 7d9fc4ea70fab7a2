// Sensitive changes (e-mail, second factor, device tokens) need the password given on this
// session within the last minutes; the API says so with 403 `reauth_required`. `useReauth`
// runs a call, and on that answer asks for the password (and the code, with MFA) in a modal
// dialog, confirms it (POST /v1/auth/reauth) and runs the call again.

import { type FormEvent, type ReactNode, useCallback, useEffect, useRef, useState } from 'react';
import { ApiError } from '../../../core/api';
import { useT } from '../../../core/i18n';
import { Alert, Field, useErrorText } from '../../../core/ui';
import { credentialCall } from './credentials';
import { useFocusLater } from './focus';

/** The person closed the dialog instead of confirming: the change was not made. */
export class Cancelled extends Error {
  constructor() { super('cancelled'); }
}

interface Pending { resolve: () => void; reject: (err: unknown) => void }

export function useReauth(): { run: <T>(fn: () => Promise<T>) => Promise<T>; dialog: ReactNode } {
  const pending = useRef<Pending | null>(null);
  const [open, setOpen] = useState(false);
  const run = useCallback(async <T,>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof ApiError && err.code === 'reauth_required')) throw err;
    }
    await new Promise<void>((resolve, reject) => {
      pending.current = { resolve, reject };
      setOpen(true);
    });
    return fn();
  }, []);
  const finish = useCallback((ok: boolean) => {
    setOpen(false);
    const p = pending.current;
    pending.current = null;
    if (ok) p?.resolve(); else p?.reject(new Cancelled());
  }, []);
  return { run, dialog: <ReauthDialog open={open} onDone={() => finish(true)} onCancel={() => finish(false)} /> };
}

function ReauthDialog({ open, onDone, onCancel }: { open: boolean; onDone: () => void; onCancel: () => void }) {
  const t = useT();
  const errorText = useErrorText();
  const dialog = useRef<HTMLDialogElement>(null);
  const passwordRef = useRef<HTMLInputElement>(null);
  const otpRef = useRef<HTMLInputElement>(null);
  const opener = useRef<Element | null>(null);
  const [password, setPassword] = useState('');
  const [otp, setOtp] = useState('');
  const [needOtp, setNeedOtp] = useState(false);
  const [errors, setErrors] = useState<{ password?: string; otp?: string; other?: string }>({});
  const [busy, setBusy] = useState(false);
  const focusLater = useFocusLater();

  useEffect(() => {
    const d = dialog.current;
    if (!d) return;
    if (open && !d.open) {
      opener.current = document.activeElement;
      setPassword(''); setOtp(''); setNeedOtp(false); setErrors({});
      d.showModal();
      passwordRef.current?.focus();
    } else if (!open && d.open) {
      d.close();
      if (opener.current instanceof HTMLElement && opener.current.isConnected) opener.current.focus();
    }
  }, [open]);

  async function submit(ev: FormEvent) {
    ev.preventDefault();
    if (!password) { setErrors({ password: t('account.reauth.missing') }); passwordRef.current?.focus(); return; }
    setBusy(true);
    setErrors({});
    try {
      await credentialCall('POST', '/v1/auth/reauth', otp.trim() ? { password, otp: otp.trim() } : { password });
      onDone();
    } catch (err) {
      const code = err instanceof ApiError ? err.code : '';
      if (code === 'invalid_credentials') {
        setErrors({ password: t('account.reauth.wrong') });
        passwordRef.current?.focus();
      } else if (code === 'mfa_required' || code === 'invalid_otp' || code === 'totp_required') {
        setNeedOtp(true);
        setErrors({ otp: t(code === 'mfa_required' ? 'account.reauth.otpNeeded' : 'account.reauth.otpWrong') });
        focusLater(() => otpRef.current);
      } else {
        setErrors({ other: errorText(err) });
      }
    } finally {
      setBusy(false);
    }
  }

  return (
    <dialog ref={dialog} className="account-dialog" aria-labelledby="reauth-title" aria-describedby="reauth-why"
      onCancel={(ev) => { ev.preventDefault(); onCancel(); }}>
      <h2 id="reauth-title">{t('account.reauth.title')}</h2>
      <p id="reauth-why" className="hint">{t('account.reauth.why')}</p>
      <form onSubmit={submit} noValidate>
        <Field label={t('account.reauth.password')} id="reauth-password" type="password"
          autoComplete="current-password" value={password} ref={passwordRef} error={errors.password}
          onChange={(e) => setPassword(e.target.value)} />
        {needOtp ? (
          <Field label={t('account.reauth.otp')} id="reauth-otp" inputMode="text" autoComplete="one-time-code"
            value={otp} ref={otpRef} error={errors.otp} onChange={(e) => setOtp(e.target.value)} />
        ) : null}
        <Alert>{errors.other}</Alert>
        <div className="row">
          <button type="submit" className="primary" disabled={busy}>{t('account.reauth.confirm')}</button>
          <button type="button" className="secondary" onClick={onCancel}>{t('common.cancel')}</button>
        </div>
      </form>
    </dialog>
  );
}
