// Your health data on the privacy page: the consent to process it (GET/POST/DELETE
// /v1/me/health-consent; withdrawing asks first), the age gate's state, and who read it
// (GET /v1/me/access-log, newest first). Every change is announced in the card's status.

import { useState } from 'react';
import { api } from '../../../core/api';
import { Confirm } from '../../../core/Confirm';
import { fmtDateTime } from '../../../core/format';
import { useI18n } from '../../../core/i18n';
import { Alert, Card, LoadState, useErrorText, useLoad } from '../../../core/ui';
import './healthMessages';

interface Standing {
  health_consent: boolean;
  policy_version: string | null;
  given_at: string | null;
  current_policy_version: string;
  under_16: boolean;
  guardian: { guardian_email: string; confirmed_at: string | null } | null;
  health_processing: boolean;
}

interface Read {
  id: string;
  at: string;
  viewer_name: string;
  viewer_role: string;
  what: string;
  group_name: string | null;
  staff_reason: string | null;
}

export function HealthData() {
  const { t } = useI18n();
  const standing = useLoad(() => api<Standing>('GET', '/v1/me/health-consent'), []);
  return (
    <Card title={t('account.health.title')}>
      <LoadState loaded={standing}>{(s) => <ConsentState initial={s} />}</LoadState>
      <AccessLog />
    </Card>
  );
}

function ConsentState({ initial }: { initial: Standing }) {
  const { t, locale } = useI18n();
  const errorText = useErrorText();
  const [s, setS] = useState(initial);
  const [asking, setAsking] = useState(false);
  const [status, setStatus] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);

  async function give() {
    setStatus(null);
    try {
      setS(await api<Standing>('POST', '/v1/me/health-consent', { policy_version: s.current_policy_version }));
      setStatus({ kind: 'ok', text: t('account.health.given') });
    } catch (err) {
      setStatus({ kind: 'error', text: errorText(err) });
    }
  }

  async function withdraw() {
    setAsking(false);
    setStatus(null);
    try {
      await api('DELETE', '/v1/me/health-consent');
      setS(await api<Standing>('GET', '/v1/me/health-consent'));
      setStatus({ kind: 'ok', text: t('account.health.withdrawn') });
    } catch (err) {
      setStatus({ kind: 'error', text: errorText(err) });
    }
  }

  return (
    <div className="account-health">
      <p>{s.health_consent
        ? t('account.health.consented', { version: s.policy_version ?? '', at: fmtDateTime(s.given_at, locale) })
        : t('account.health.none', { version: s.current_policy_version })}</p>
      {s.under_16 && !s.health_processing && s.health_consent
        ? <p>{s.guardian ? t('account.health.guardianPending', { email: s.guardian.guardian_email })
          : t('account.health.guardianNeeded')}</p> : null}
      {s.health_consent ? (asking
        ? <Confirm confirmLabel={t('account.health.withdraw')} onConfirm={() => void withdraw()}
          onCancel={() => setAsking(false)}>{t('account.health.withdrawAsk')}</Confirm>
        : <button type="button" className="danger" onClick={() => setAsking(true)}>
          {t('account.health.withdraw')}</button>)
        : <button type="button" className="primary" onClick={() => void give()}>{t('account.health.give')}</button>}
      {status ? <Alert kind={status.kind}>{status.text}</Alert> : null}
    </div>
  );
}

function AccessLog() {
  const { t, locale } = useI18n();
  const reads = useLoad(() => api<Read[]>('GET', '/v1/me/access-log?limit=20'), []);
  return (
    <>
      <h3>{t('account.health.log')}</h3>
      <LoadState loaded={reads}>{(rows) => rows.length === 0 ? <p>{t('account.health.logEmpty')}</p> : (
        <div className="table-wrap account-table" tabIndex={0} role="region" aria-label={t('account.health.log')}>
          <table>
            <thead>
              <tr>
                <th scope="col">{t('account.health.who')}</th>
                <th scope="col">{t('account.health.what')}</th>
                <th scope="col">{t('account.health.when')}</th>
                <th scope="col">{t('account.health.basis')}</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr key={r.id}>
                  <th scope="row">{r.viewer_name} ({t(`account.health.role.${r.viewer_role}`)})</th>
                  <td>{t(`account.health.what.${r.what}`)}</td>
                  <td>{fmtDateTime(r.at, locale)}</td>
                  <td>{r.group_name ? t('account.health.viaGroup', { group: r.group_name })
                    : r.staff_reason ?? t(`account.health.role.${r.viewer_role}`)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}</LoadState>
    </>
  );
}
