// Two-step sign-in (gateway/mfa_api.py): start TOTP enrolment (the secret as text and its
// otpauth:// URI for an authenticator app), confirm it with a code, see the recovery codes
// once, make new ones, turn it off. Starting, new codes and turning off need a recent
// password, which the re-authentication dialog asks for.

import { type FormEvent, useRef, useState } from 'react';
import { api, ApiError } from '../../../core/api';
import { useT } from '../../../core/i18n';
import { Alert, Card, Field, LoadState, useErrorText, useLoad } from '../../../core/ui';
import { AccountPage, CopyButton, FocusCard } from './AccountShell';
import { Cancelled, useReauth } from './reauth';
import { useFocusLater } from './focus';

interface MfaStatus { totp: boolean; recovery_codes_left: number; required: boolean }
interface Enrolment { secret: string; otpauth_uri: string }

type View =
  | { kind: 'status' }
  | { kind: 'enrolling'; enrolment: Enrolment }
  | { kind: 'codes'; codes: string[]; why: 'enrolled' | 'renewed' };

/** A base32 secret in groups of four, as people read and type it. */
const grouped = (secret: string): string => secret.replace(/(.{4})(?=.)/g, '$1 ');

export function MfaPage() {
  const t = useT();
  const errorText = useErrorText();
  const reauth = useReauth();
  const status = useLoad(() => api<MfaStatus>('GET', '/v1/users/me/mfa'), []);
  const [view, setView] = useState<View>({ kind: 'status' });
  const [message, setMessage] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  const [busy, setBusy] = useState(false);

  /** Runs a change that may need re-authentication; a refusal is shown, a cancel is not. */
  async function act(fn: () => Promise<void>) {
    setBusy(true);
    setMessage(null);
    try {
      await reauth.run(fn);
    } catch (err) {
      if (!(err instanceof Cancelled)) setMessage({ kind: 'error', text: errorText(err) });
    } finally {
      setBusy(false);
    }
  }

  const begin = () => act(async () => {
    const enrolment = await api<Enrolment>('POST', '/v1/users/me/mfa/totp');
    setView({ kind: 'enrolling', enrolment });
  });
  const renew = () => act(async () => {
    const { recovery_codes } = await api<{ recovery_codes: string[] }>('POST', '/v1/users/me/mfa/recovery-codes');
    setView({ kind: 'codes', codes: recovery_codes, why: 'renewed' });
  });
  const turnOff = () => act(async () => {
    await api('DELETE', '/v1/users/me/mfa/totp');
    setMessage({ kind: 'ok', text: t('account.mfa.offDone') });
    status.reload();
  });
  const backToStatus = () => { setView({ kind: 'status' }); status.reload(); };

  return (
    <AccountPage title={t('account.mfa.title')}>
      {view.kind === 'enrolling' ? (
        <Enrol enrolment={view.enrolment} onCancel={backToStatus}
          onConfirmed={(codes) => setView({ kind: 'codes', codes, why: 'enrolled' })} />
      ) : view.kind === 'codes' ? (
        <RecoveryCodes codes={view.codes} why={view.why} onDone={backToStatus} />
      ) : (
        <LoadState loaded={status}>
          {(s) => <StatusCard status={s} busy={busy} onBegin={begin} onRenew={renew} onTurnOff={turnOff} />}
        </LoadState>
      )}
      {message ? <Alert kind={message.kind}>{message.text}</Alert> : null}
      {reauth.dialog}
    </AccountPage>
  );
}

function StatusCard({ status, busy, onBegin, onRenew, onTurnOff }: {
  status: MfaStatus; busy: boolean; onBegin: () => void; onRenew: () => void; onTurnOff: () => void;
}) {
  const t = useT();
  const [confirmOff, setConfirmOff] = useState(false);
  if (!status.totp) {
    return (
      <Card title={t('account.mfa.off')}>
        <p>{t('account.mfa.offHint')}</p>
        {status.required ? <Alert kind="info">{t('account.mfa.required')}</Alert> : null}
        <button type="button" className="primary" disabled={busy} onClick={onBegin}>{t('account.mfa.begin')}</button>
      </Card>
    );
  }
  return (
    <Card title={t('account.mfa.on')}>
      <p>{t('account.mfa.onHint')}</p>
      <p>{t('account.mfa.codesLeft', { n: status.recovery_codes_left })}</p>
      <div className="row">
        <button type="button" className="secondary" disabled={busy} onClick={onRenew}>{t('account.mfa.renew')}</button>
        {confirmOff ? null : (
          <button type="button" className="danger" disabled={busy} onClick={() => setConfirmOff(true)}>
            {t('account.mfa.turnOff')}</button>
        )}
      </div>
      {confirmOff ? (
        <div className="account-confirm" role="group" aria-labelledby="mfa-off-ask">
          <p id="mfa-off-ask">{t(status.required ? 'account.mfa.offAskRequired' : 'account.mfa.offAsk')}</p>
          <div className="row">
            <button type="button" className="danger" disabled={busy} autoFocus
              onClick={() => { setConfirmOff(false); onTurnOff(); }}>{t('account.mfa.turnOffConfirm')}</button>
            <button type="button" className="secondary" onClick={() => setConfirmOff(false)}>{t('common.cancel')}</button>
          </div>
        </div>
      ) : null}
    </Card>
  );
}

function Enrol({ enrolment, onConfirmed, onCancel }: {
  enrolment: Enrolment; onConfirmed: (codes: string[]) => void; onCancel: () => void;
}) {
  const t = useT();
  const errorText = useErrorText();
  const [code, setCode] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  const focusLater = useFocusLater();

  async function submit(ev: FormEvent) {
    ev.preventDefault();
    setError(null);
    const typed = code.replace(/\s/g, '');
    if (!/^\d{6}$/.test(typed)) { setError(t('account.mfa.codeShape')); input.current?.focus(); return; }
    setBusy(true);
    try {
      const { recovery_codes } = await api<{ recovery_codes: string[] }>(
        'POST', '/v1/users/me/mfa/totp/confirm', { code: typed });
      onConfirmed(recovery_codes);
    } catch (err) {
      setError(err instanceof ApiError && err.code === 'invalid_otp' ? t('account.mfa.codeWrong') : errorText(err));
      focusLater(() => input.current);
    } finally {
      setBusy(false);
    }
  }

  return (
    <FocusCard title={t('account.mfa.enrolTitle')}>
      <ol className="account-steps">
        <li>
          <p>{t('account.mfa.step1')}</p>
          <dl className="facts account-secret">
            <dt>{t('account.mfa.secret')}</dt>
            <dd><code id="mfa-secret">{grouped(enrolment.secret)}</code></dd>
            <dt>{t('account.mfa.uri')}</dt>
            <dd><code id="mfa-uri">{enrolment.otpauth_uri}</code></dd>
          </dl>
          <div className="row">
            <CopyButton text={enrolment.secret} label={t('account.mfa.copySecret')} />
            <a className="button" href={enrolment.otpauth_uri}>{t('account.mfa.openApp')}</a>
          </div>
        </li>
        <li>
          <form onSubmit={submit} noValidate>
            <Field id="mfa-code" label={t('account.mfa.code')} hint={t('account.mfa.codeHint')} inputMode="numeric"
              autoComplete="one-time-code" value={code} ref={input} error={error}
              onChange={(e) => setCode(e.target.value)} />
            <div className="row">
              <button type="submit" className="primary" disabled={busy}>{t('account.mfa.confirm')}</button>
              <button type="button" className="secondary" onClick={onCancel}>{t('common.cancel')}</button>
            </div>
          </form>
        </li>
      </ol>
    </FocusCard>
  );
}

function RecoveryCodes({ codes, why, onDone }: { codes: string[]; why: 'enrolled' | 'renewed'; onDone: () => void }) {
  const t = useT();
  return (
    <FocusCard title={t(why === 'enrolled' ? 'account.mfa.enrolled' : 'account.mfa.renewed')}>
      <p>{t('account.mfa.codesOnce')}</p>
      <ol className="account-codes" aria-label={t('account.mfa.codesLabel')}>
        {codes.map((c) => <li key={c}><code>{c}</code></li>)}
      </ol>
      <div className="row">
        <CopyButton text={codes.join('\n')} label={t('account.mfa.copyCodes')} />
        <button type="button" className="primary" onClick={onDone}>{t('account.mfa.saved')}</button>
      </div>
    </FocusCard>
  );
}
