// Privacy settings (GET/PATCH /v1/users/me/privacy): what the shared surfaces show of you.
// Everything starts private; each setting says where it applies. Below them: your health
// data — the consent to process it, and who read it (HealthData.tsx).

import { type FormEvent, useId, useState } from 'react';
import { api } from '../../../core/api';
import { useT } from '../../../core/i18n';
import { Alert, Card, LoadState, Select, useErrorText, useLoad } from '../../../core/ui';
import { AccountPage } from './AccountShell';
import { HealthData } from './HealthData';

interface Privacy {
  leaderboard_name: boolean;
  profile_visibility: string;
  workout_visibility: string;
  in_percentiles: boolean;
}

const VISIBILITY = ['private', 'followers', 'public'];

export function PrivacyPage() {
  const t = useT();
  const loaded = useLoad(() => api<Privacy>('GET', '/v1/users/me/privacy'), []);
  return (
    <AccountPage title={t('account.privacy.title')}>
      <LoadState loaded={loaded}>{(p) => <PrivacyForm initial={p} />}</LoadState>
      <HealthData />
    </AccountPage>
  );
}

function Check({ label, hint, checked, onChange }: {
  label: string; hint: string; checked: boolean; onChange: (v: boolean) => void;
}) {
  const id = useId();
  return (
    <div className="field account-check">
      <div>
        <input id={id} type="checkbox" checked={checked} aria-describedby={`${id}-hint`}
          onChange={(e) => onChange(e.target.checked)} />
        <label htmlFor={id}>{label}</label>
      </div>
      <p id={`${id}-hint`} className="hint">{hint}</p>
    </div>
  );
}

function PrivacyForm({ initial }: { initial: Privacy }) {
  const t = useT();
  const errorText = useErrorText();
  const [saved, setSaved] = useState(initial);
  const [form, setForm] = useState(initial);
  const [status, setStatus] = useState<{ kind: 'ok' | 'error' | 'info'; text: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const visibility: [string, string][] = VISIBILITY.map((v) => [v, t(`account.privacy.visibility.${v}`)]);

  async function submit(ev: FormEvent) {
    ev.preventDefault();
    const body = Object.fromEntries(Object.entries(form)
      .filter(([k, v]) => saved[k as keyof Privacy] !== v));
    if (Object.keys(body).length === 0) { setStatus({ kind: 'info', text: t('account.profile.nothing') }); return; }
    setBusy(true);
    setStatus(null);
    try {
      const p = await api<Privacy>('PATCH', '/v1/users/me/privacy', body);
      setSaved(p);
      setForm(p);
      setStatus({ kind: 'ok', text: t('common.saved') });
    } catch (err) {
      setStatus({ kind: 'error', text: errorText(err) });
    } finally {
      setBusy(false);
    }
  }

  return (
    <form onSubmit={submit} noValidate>
      <p className="hint">{t('account.privacy.intro')}</p>
      <div className="grid">
        <Card title={t('account.privacy.shown')}>
          <Select id="privacy-profile" label={t('account.privacy.profile')} value={form.profile_visibility}
            onChange={(v) => setForm({ ...form, profile_visibility: v })} options={visibility} />
          <Select id="privacy-workouts" label={t('account.privacy.workouts')} value={form.workout_visibility}
            onChange={(v) => setForm({ ...form, workout_visibility: v })} options={visibility} />
          <p className="hint">{t('account.privacy.workouts.hint')}</p>
        </Card>
        <Card title={t('account.privacy.compared')}>
          <Check label={t('account.privacy.leaderboard')} hint={t('account.privacy.leaderboard.hint')}
            checked={form.leaderboard_name} onChange={(v) => setForm({ ...form, leaderboard_name: v })} />
          <Check label={t('account.privacy.percentiles')} hint={t('account.privacy.percentiles.hint')}
            checked={form.in_percentiles} onChange={(v) => setForm({ ...form, in_percentiles: v })} />
        </Card>
      </div>
      <div className="account-actions">
        <button type="submit" className="primary" disabled={busy}>{t('common.save')}</button>
        {status ? <Alert kind={status.kind}>{status.text}</Alert> : null}
      </div>
    </form>
  );
}
