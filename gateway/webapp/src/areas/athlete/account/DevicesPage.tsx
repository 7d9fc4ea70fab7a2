// Device tokens (gateway/devices_api.py): a watch or phone gets a token that opens the
// device WebSocket only. Made here (needs a recent password), shown once with a copy
// button, listed without the token, revoked at once.

import { type FormEvent, useRef, useState } from 'react';
import { api, ApiError } from '../../../core/api';
import { fmtDateTime } from '../../../core/format';
import { useI18n } from '../../../core/i18n';
import { Alert, Card, Field, useErrorText } from '../../../core/ui';
import { AccountPage, CopyButton, FocusCard } from './AccountShell';
import { fieldOf } from './fieldErrors';
import { usePaged } from './paged';
import { Cancelled, useReauth } from './reauth';
import { useFocusLater } from './focus';

interface Device { id: string; name: string; created_at: string; last_used_at: string | null }
interface NewDevice extends Device { token: string }

export function DevicesPage() {
  const { t, locale } = useI18n();
  const errorText = useErrorText();
  const reauth = useReauth();
  const devices = usePaged<Device>('/v1/devices');
  const [name, setName] = useState('');
  const [nameError, setNameError] = useState<string | null>(null);
  const [made, setMade] = useState<NewDevice | null>(null);
  const [message, setMessage] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  const listHeading = useRef<HTMLHeadingElement>(null);
  const focusLater = useFocusLater();

  async function add(ev: FormEvent) {
    ev.preventDefault();
    setNameError(null);
    setMessage(null);
    setBusy(true);
    try {
      const device = await reauth.run(() => api<NewDevice>('POST', '/v1/devices', { name: name.trim() }));
      setMade(device);
      setName('');
      devices.reload();
    } catch (err) {
      if (err instanceof Cancelled) return;
      if (fieldOf(err, ['name'])) {
        setNameError(t('account.devices.nameInvalid'));
        focusLater(() => input.current);
      } else {
        setMessage({ kind: 'error', text: errorText(err) });
      }
    } finally {
      setBusy(false);
    }
  }

  async function revoke(device: Device) {
    setMessage(null);
    try {
      await api('DELETE', `/v1/devices/${device.id}`);
      setMessage({ kind: 'ok', text: t('account.devices.revoked', { name: device.name }) });
      if (made?.id === device.id) setMade(null);
    } catch (err) {
      const gone = err instanceof ApiError && err.code === 'not_found';
      setMessage({ kind: 'error', text: gone ? t('account.devices.gone', { name: device.name }) : errorText(err) });
    }
    devices.reload();
    listHeading.current?.focus();
  }

  return (
    <AccountPage title={t('account.devices.title')}>
      <p className="hint">{t('account.devices.intro')}</p>
      {made ? (
        <FocusCard title={t('account.devices.madeTitle', { name: made.name })} className="account-made">
          <p>{t('account.devices.once')}</p>
          <p><code id="device-token" className="account-token">{made.token}</code></p>
          <div className="row">
            <CopyButton text={made.token} label={t('account.devices.copy')} />
            <button type="button" className="secondary" onClick={() => setMade(null)}>{t('account.devices.hide')}</button>
          </div>
        </FocusCard>
      ) : null}
      <Card title={t('account.devices.add')}>
        <form onSubmit={add} noValidate className="row">
          <Field id="device-name" label={t('account.devices.name')} hint={t('account.devices.nameHint')}
            value={name} ref={input} error={nameError} maxLength={100}
            onChange={(e) => setName(e.target.value)} />
          <button type="submit" className="primary" disabled={busy}>{t('account.devices.create')}</button>
        </form>
      </Card>
      <section className="card" aria-labelledby="devices-list">
        <h2 id="devices-list" ref={listHeading} tabIndex={-1}>{t('account.devices.list')}</h2>
        {message ? <Alert kind={message.kind}>{message.text}</Alert> : null}
        {devices.error ? <Alert>{errorText(devices.error)}</Alert> : null}
        {devices.items === null ? (devices.error ? null : <p role="status" className="hint">{t('common.loading')}</p>)
          : devices.items.length === 0 ? <p>{t('account.devices.none')}</p> : (
            <div className="table-wrap account-table">
              <table>
                <thead>
                  <tr>
                    <th scope="col">{t('account.devices.name')}</th>
                    <th scope="col">{t('account.devices.created')}</th>
                    <th scope="col">{t('account.devices.used')}</th>
                    <th scope="col"><span className="visually-hidden">{t('account.actions')}</span></th>
                  </tr>
                </thead>
                <tbody>
                  {devices.items.map((d) => (
                    <tr key={d.id}>
                      <th scope="row">{d.name}</th>
                      <td>{fmtDateTime(d.created_at, locale)}</td>
                      <td>{d.last_used_at ? fmtDateTime(d.last_used_at, locale) : t('account.devices.never')}</td>
                      <td>
                        <button type="button" className="danger" onClick={() => void revoke(d)}
                          aria-label={t('account.devices.revokeNamed', { name: d.name })}>
                          {t('account.devices.revoke')}</button>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        {devices.more ? <button type="button" className="secondary" onClick={devices.loadMore}>{t('common.more')}</button> : null}
      </section>
      {reauth.dialog}
    </AccountPage>
  );
}
