// Profile and training preferences (GET/PATCH /v1/users/me): names, the body figures the
// metrics use (weight, resting and maximum heart rate, VO2max), where you live, your goal
// and equipment. Only changed fields are sent; a refused field is marked where it is.

import { type ComponentProps, type FormEvent, useState } from 'react';
import { api } from '../../../core/api';
import { useT } from '../../../core/i18n';
import { Link } from '../../../core/router';
import { useSession } from '../../../core/session';
import { Alert, Card, Field, LoadState, Select, useErrorText, useLoad } from '../../../core/ui';
import { AccountPage } from './AccountShell';
import { fieldOf } from './fieldErrors';
import { useFocusLater } from './focus';

export interface Profile {
  id: string;
  email: string;
  first_name: string | null;
  second_name: string | null;
  last_name: string | null;
  phone: string | null;
  birth_date: string | null;
  sex: string | null;
  weight_kg: number | null;
  hr_rest: number | null;
  hr_max: number | null;
  vo2max: number | null;
  country: string | null;
  city: string | null;
  goal: string | null;
  inventory: string | null;
}

const TEXT = ['first_name', 'second_name', 'last_name', 'phone', 'birth_date', 'sex', 'country', 'city',
  'goal', 'inventory'] as const;
const NUMBERS = ['weight_kg', 'hr_rest', 'hr_max', 'vo2max'] as const;
const FIELDS: readonly string[] = [...TEXT, ...NUMBERS];
type Form = Record<string, string>;
type InputExtra = Omit<ComponentProps<'input'>, 'value' | 'onChange' | 'type'> & { hint?: string };

function formOf(p: Profile): Form {
  const rec = p as unknown as Record<string, unknown>;
  return Object.fromEntries(FIELDS.map((f) => [f, rec[f] === null || rec[f] === undefined ? '' : String(rec[f])]));
}

/** What the form changes, typed as the API wants it ('' clears a field). */
function changes(form: Form, p: Profile): Record<string, string | number | null> {
  const rec = p as unknown as Record<string, unknown>;
  const out: Record<string, string | number | null> = {};
  for (const f of FIELDS) {
    const raw = form[f].trim();
    let value: string | number | null = raw === '' ? null : raw;
    if (value !== null && (NUMBERS as readonly string[]).includes(f)) {
      const n = Number(raw.replace(',', '.'));
      value = Number.isFinite(n) ? n : raw;
    }
    if (f === 'country' && typeof value === 'string') value = value.toUpperCase();
    if (value !== (rec[f] ?? null)) out[f] = value;
  }
  return out;
}

export function ProfilePage() {
  const t = useT();
  const loaded = useLoad(() => api<Profile>('GET', '/v1/users/me'), []);
  return (
    <AccountPage title={t('account.profile.title')}>
      <LoadState loaded={loaded}>{(p) => <ProfileForm profile={p} />}</LoadState>
    </AccountPage>
  );
}

function ProfileForm({ profile }: { profile: Profile }) {
  const t = useT();
  const errorText = useErrorText();
  const { refresh } = useSession();
  const [saved, setSaved] = useState(profile);
  const [form, setForm] = useState<Form>(() => formOf(profile));
  const [fieldError, setFieldError] = useState<{ field: string; text: string } | null>(null);
  const [status, setStatus] = useState<{ kind: 'ok' | 'error' | 'info'; text: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const focusLater = useFocusLater();

  const set = (f: string) => (v: string) => setForm((old) => ({ ...old, [f]: v }));
  const errorOf = (f: string) => (fieldError?.field === f ? fieldError.text : null);
  const input = (f: string, type = 'text', extra: InputExtra = {}) => (
    <Field id={`profile-${f}`} label={t(`account.profile.${f}`)} type={type} value={form[f]}
      error={errorOf(f)} onChange={(e) => set(f)(e.target.value)} {...extra} />
  );

  async function submit(ev: FormEvent) {
    ev.preventDefault();
    const body = changes(form, saved);
    setFieldError(null);
    if (Object.keys(body).length === 0) { setStatus({ kind: 'info', text: t('account.profile.nothing') }); return; }
    setBusy(true);
    setStatus(null);
    try {
      const p = await api<Profile>('PATCH', '/v1/users/me', body);
      setSaved(p);
      setForm(formOf(p));
      setStatus({ kind: 'ok', text: t('common.saved') });
      void refresh();
    } catch (err) {
      const field = fieldOf(err, FIELDS);
      if (field) {
        setFieldError({ field, text: t(`account.profile.invalid.${field}`) });
        setStatus({ kind: 'error', text: t('account.profile.fix') });
        focusLater(() => document.getElementById(`profile-${field}`));
      } else {
        setStatus({ kind: 'error', text: errorText(err) });
      }
    } finally {
      setBusy(false);
    }
  }

  const options = (f: string, values: string[]): [string, string][] =>
    [['', t('account.profile.unset')], ...values.map((v): [string, string] => [v, t(`account.profile.${f}.${v}`)])];

  return (
    <form onSubmit={submit} noValidate>
      <p className="hint">
        {t('account.profile.email', { email: saved.email })}{' '}
        <Link to="/app/account/security">{t('account.profile.changeEmail')}</Link>
      </p>
      <div className="grid">
        <Card title={t('account.profile.person')}>
          {input('first_name', 'text', { autoComplete: 'given-name' })}
          {input('second_name', 'text', { autoComplete: 'additional-name' })}
          {input('last_name', 'text', { autoComplete: 'family-name' })}
          {input('phone', 'tel', { autoComplete: 'tel', hint: t('account.profile.phone.hint') })}
          {input('birth_date', 'date', { autoComplete: 'bday' })}
          <Select id="profile-sex" label={t('account.profile.sex')} value={form.sex} onChange={set('sex')}
            options={options('sex', ['female', 'male'])} />
        </Card>
        <Card title={t('account.profile.body')}>
          <p className="hint">{t('account.profile.body.hint')}</p>
          {input('weight_kg', 'number', { step: '0.1', inputMode: 'decimal' })}
          {input('hr_rest', 'number', { step: '1', inputMode: 'numeric' })}
          {input('hr_max', 'number', { step: '1', inputMode: 'numeric' })}
          {input('vo2max', 'number', { step: '0.1', inputMode: 'decimal' })}
        </Card>
        <Card title={t('account.profile.place')}>
          {input('country', 'text', { maxLength: 2, autoComplete: 'country', hint: t('account.profile.country.hint') })}
          {input('city', 'text', { autoComplete: 'address-level2' })}
        </Card>
        <Card title={t('account.profile.training')}>
          <p className="hint">{t('account.profile.training.hint')}</p>
          <Select id="profile-goal" label={t('account.profile.goal')} value={form.goal} onChange={set('goal')}
            options={options('goal', ['endurance', 'weight_loss', 'speed'])} />
          <Select id="profile-inventory" label={t('account.profile.inventory')} value={form.inventory}
            onChange={set('inventory')} options={options('inventory', ['none', 'bike', 'treadmill'])} />
        </Card>
      </div>
      <div className="account-actions">
        <button type="submit" className="primary" disabled={busy}>{t('common.save')}</button>
        {status ? <Alert kind={status.kind}>{status.text}</Alert> : null}
      </div>
    </form>
  );
}
