// Consents (gateway/consents_api.py): let a group's coaches watch your live workouts
// (`live`) and/or read your past ones (`history`, from now or from a date you pick),
// withdraw either at once, and read the journal of every grant and withdrawal
// (GET /v1/consents/journal).

import { type FormEvent, useEffect, useRef, useState } from 'react';
import { api, ApiError } from '../../../core/api';
import { fmtDateTime } from '../../../core/format';
import { useI18n } from '../../../core/i18n';
import { Link, useSearchParams } from '../../../core/router';
import { useSession } from '../../../core/session';
import { Alert, Card, Field, Page, Select, useErrorText } from '../../../core/ui';
import type { Group } from './GroupsPage';
import { type Paged, usePaged } from './paged';
import './healthMessages'; // the journal's health-data and guardian scopes

interface Consent {
  id: string; group_id: string; group_name: string | null; scope: string; granted_at: string;
  withdrawn_at: string | null; history_from: string | null; coaches: { user_id: string; name: string }[];
}
interface JournalEntry {
  id: string; at: string; action: string; scope: string; group_id: string | null; group_name: string | null;
  actor_id: string | null; purpose: string; policy_version: string;
}

type Status = { kind: 'ok' | 'error'; text: string } | null;

export function ConsentsPage() {
  const { t } = useI18n();
  const consents = usePaged<Consent>('/v1/consents');
  const journal = usePaged<JournalEntry>('/v1/consents/journal');
  const [status, setStatus] = useState<Status>(null);
  const listHeading = useRef<HTMLHeadingElement>(null);

  /** After a grant or a withdrawal: the lists anew, and focus where the result is said. */
  const changed = (s: Status) => {
    setStatus(s);
    consents.reload();
    journal.reload();
    listHeading.current?.focus();
  };

  return (
    <Page title={t('account.consents.title')}>
      <p className="hint">{t('account.consents.intro')}</p>
      <GrantForm onChanged={changed} />
      <section className="card" aria-labelledby="consents-current">
        <h2 id="consents-current" ref={listHeading} tabIndex={-1}>{t('account.consents.current')}</h2>
        {status ? <Alert kind={status.kind}>{status.text}</Alert> : null}
        <ConsentTables consents={consents} onChanged={changed} />
      </section>
      <Journal journal={journal} />
    </Page>
  );
}

function GrantForm({ onChanged }: { onChanged: (s: Status) => void }) {
  const { t } = useI18n();
  const errorText = useErrorText();
  const wanted = useSearchParams().get('group') ?? '';
  const groups = usePaged<Group>('/v1/groups?limit=200');
  const [group, setGroup] = useState('');
  const [live, setLive] = useState(false);
  const [history, setHistory] = useState(false);
  const [from, setFrom] = useState('');
  const [purpose, setPurpose] = useState(t('account.consents.purposeDefault'));
  const [scopeError, setScopeError] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const liveRef = useRef<HTMLInputElement>(null);

  useEffect(() => {
    const items = groups.items ?? [];
    if (!items.some((g) => g.id === group) && items.length > 0) {
      setGroup(items.some((g) => g.id === wanted) ? wanted : items[0].id);
    }
  }, [groups.items, wanted, group]);

  async function submit(ev: FormEvent) {
    ev.preventDefault();
    setScopeError(null);
    setError(null);
    if (!live && !history) { setScopeError(t('account.consents.pickScope')); liveRef.current?.focus(); return; }
    const name = groups.items?.find((g) => g.id === group)?.name ?? '';
    setBusy(true);
    try {
      const base = { group_id: group, purpose: purpose.trim() || t('account.consents.purposeDefault') };
      if (live) await api('POST', '/v1/consents', { ...base, scope: 'live' });
      if (history) {
        await api('POST', '/v1/consents', from
          ? { ...base, scope: 'history', history_from: new Date(`${from}T00:00:00`).toISOString() }
          : { ...base, scope: 'history' });
      }
      setLive(false); setHistory(false); setFrom('');
      onChanged({ kind: 'ok', text: t('account.consents.granted', { name }) });
    } catch (err) {
      const notMember = err instanceof ApiError && err.code === 'not_found';
      setError(notMember ? t('account.consents.notMember', { name }) : errorText(err));
    } finally {
      setBusy(false);
    }
  }

  if (groups.error) return <Card title={t('account.consents.grant')}><Alert>{errorText(groups.error)}</Alert></Card>;
  if (groups.items === null) return <Card title={t('account.consents.grant')}><p role="status" className="hint">{t('common.loading')}</p></Card>;
  if (groups.items.length === 0) {
    return (
      <Card title={t('account.consents.grant')}>
        <p>{t('account.consents.noGroups')} <Link to="/app/groups">{t('account.nav.groups')}</Link></p>
      </Card>
    );
  }
  return (
    <Card title={t('account.consents.grant')}>
      <form onSubmit={submit} noValidate>
        <Select id="consent-group" label={t('account.consents.group')} value={group} onChange={setGroup}
          options={groups.items.map((g): [string, string] => [g.id, g.name])} />
        <fieldset className="account-fieldset" aria-describedby={scopeError ? 'consent-scope-error' : undefined}>
          <legend>{t('account.consents.what')}</legend>
          <div className="account-check">
            <input id="consent-live" type="checkbox" checked={live} ref={liveRef}
              onChange={(e) => setLive(e.target.checked)} />
            <label htmlFor="consent-live">{t('account.consents.live')}</label>
          </div>
          <div className="account-check">
            <input id="consent-history" type="checkbox" checked={history}
              onChange={(e) => setHistory(e.target.checked)} />
            <label htmlFor="consent-history">{t('account.consents.history')}</label>
          </div>
          {scopeError ? <p id="consent-scope-error" className="error" role="alert">{scopeError}</p> : null}
        </fieldset>
        {history ? (
          <Field id="consent-from" type="date" label={t('account.consents.from')} hint={t('account.consents.fromHint')}
            value={from} onChange={(e) => setFrom(e.target.value)} />
        ) : null}
        <Field id="consent-purpose" label={t('account.consents.purpose')} hint={t('account.consents.purposeHint')}
          value={purpose} maxLength={500} onChange={(e) => setPurpose(e.target.value)} />
        <button type="submit" className="primary" disabled={busy}>{t('account.consents.submit')}</button>
        <Alert>{error}</Alert>
      </form>
    </Card>
  );
}

function ConsentTables({ consents, onChanged }: {
  consents: Paged<Consent>; onChanged: (s: Status) => void;
}) {
  const { t, locale } = useI18n();
  const errorText = useErrorText();
  if (consents.error) return <Alert>{errorText(consents.error)}</Alert>;
  if (consents.items === null) return <p role="status" className="hint">{t('common.loading')}</p>;
  const current = consents.items.filter((c) => !c.withdrawn_at);
  const earlier = consents.items.filter((c) => c.withdrawn_at);
  const what = (c: Consent) => (c.scope === 'history'
    ? t('account.consents.historyFrom', { from: fmtDateTime(c.history_from, locale) })
    : t(`account.consents.scope.${c.scope}`));
  const groupName = (c: Consent) => c.group_name ?? t('account.consents.groupGone');

  async function withdraw(c: Consent) {
    try {
      await api('DELETE', `/v1/consents/${c.id}`);
      onChanged({ kind: 'ok', text: t('account.consents.withdrawn', { name: groupName(c), what: what(c) }) });
    } catch (err) {
      onChanged({ kind: 'error', text: errorText(err) });
    }
  }

  return (
    <>
      {current.length === 0 ? <p>{t('account.consents.noneCurrent')}</p> : (
        <div className="table-wrap account-table">
          <table>
            <thead>
              <tr>
                <th scope="col">{t('account.consents.group')}</th>
                <th scope="col">{t('account.consents.scope')}</th>
                <th scope="col">{t('account.consents.coaches')}</th>
                <th scope="col">{t('account.consents.grantedAt')}</th>
                <th scope="col"><span className="visually-hidden">{t('account.actions')}</span></th>
              </tr>
            </thead>
            <tbody>
              {current.map((c) => (
                <tr key={c.id}>
                  <th scope="row">{groupName(c)}</th>
                  <td>{what(c)}</td>
                  <td>{c.coaches.length ? c.coaches.map((k) => k.name).join(', ') : t('account.consents.noCoach')}</td>
                  <td>{fmtDateTime(c.granted_at, locale)}</td>
                  <td>
                    <button type="button" className="danger" onClick={() => void withdraw(c)}
                      aria-label={t('account.consents.withdrawNamed', { name: groupName(c), what: what(c) })}>
                      {t('account.consents.withdraw')}</button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {earlier.length > 0 ? (
        <>
          <h3>{t('account.consents.earlier')}</h3>
          <div className="table-wrap account-table" tabIndex={0} role="region" aria-label={t('account.consents.earlier')}>
            <table>
              <thead>
                <tr>
                  <th scope="col">{t('account.consents.group')}</th>
                  <th scope="col">{t('account.consents.scope')}</th>
                  <th scope="col">{t('account.consents.grantedAt')}</th>
                  <th scope="col">{t('account.consents.withdrawnAt')}</th>
                </tr>
              </thead>
              <tbody>
                {earlier.map((c) => (
                  <tr key={c.id}>
                    <th scope="row">{groupName(c)}</th>
                    <td>{what(c)}</td>
                    <td>{fmtDateTime(c.granted_at, locale)}</td>
                    <td>{fmtDateTime(c.withdrawn_at, locale)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      ) : null}
      {consents.more ? <button type="button" className="secondary" onClick={consents.loadMore}>{t('common.more')}</button> : null}
    </>
  );
}

function Journal({ journal }: { journal: Paged<JournalEntry> }) {
  const { t, locale } = useI18n();
  const errorText = useErrorText();
  const { me } = useSession();
  /** A value's label, or the value itself when this page does not know it yet. */
  const label = (key: string, raw: string) => { const s = t(key); return s === key ? raw : s; };
  const who = (e: JournalEntry) => (e.actor_id === null ? t('account.journal.system')
    : e.actor_id === me?.id ? t('account.journal.you') : t('account.journal.other'));
  return (
    <section className="card" aria-labelledby="consents-journal">
      <h2 id="consents-journal">{t('account.journal.title')}</h2>
      <p className="hint">{t('account.journal.intro')}</p>
      {journal.error ? <Alert>{errorText(journal.error)}</Alert>
        : journal.items === null ? <p role="status" className="hint">{t('common.loading')}</p>
          : journal.items.length === 0 ? <p>{t('account.journal.none')}</p> : (
            <div className="table-wrap account-table" tabIndex={0} role="region" aria-label={t('account.journal.title')}>
              <table>
                <thead>
                  <tr>
                    <th scope="col">{t('account.journal.at')}</th>
                    <th scope="col">{t('account.journal.action')}</th>
                    <th scope="col">{t('account.consents.scope')}</th>
                    <th scope="col">{t('account.consents.group')}</th>
                    <th scope="col">{t('account.journal.by')}</th>
                    <th scope="col">{t('account.consents.purpose')}</th>
                    <th scope="col">{t('account.journal.policy')}</th>
                  </tr>
                </thead>
                <tbody>
                  {journal.items.map((e) => (
                    <tr key={e.id}>
                      <th scope="row">{fmtDateTime(e.at, locale)}</th>
                      <td>{label(`account.journal.${e.action}`, e.action)}</td>
                      <td>{label(`account.consents.scope.${e.scope}`, e.scope)}</td>
                      <td>{e.group_name ?? (e.group_id ? t('account.consents.groupGone') : '–')}</td>
                      <td>{who(e)}</td>
                      <td>{e.purpose}</td>
                      <td>{e.policy_version}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
      {journal.more ? <button type="button" className="secondary" onClick={journal.loadMore}>{t('common.more')}</button> : null}
    </section>
  );
}
