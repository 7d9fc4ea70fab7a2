// Changing a workout: its title and sport (PATCH /v1/workouts/{id}; a new sport has the
// summary computed again, so it can take a moment), and deleting it after a confirmation
// in a modal <dialog> (which keeps focus inside, closes on Escape and starts on "Cancel").

import { type FormEvent, useEffect, useId, useRef, useState } from 'react';
import { api, ApiError } from '../../../core/api';
import { useI18n } from '../../../core/i18n';
import { Alert, Field, Select, useErrorText } from '../../../core/ui';
import { LIVE_STATUSES, SPORTS, type Workout } from './model';
import { sportName, titleOf } from './names';

/** The API's refusal of a change in words: a live workout, a changed-meanwhile, or its own. */
function useChangeError(): (err: unknown) => string {
  const { t } = useI18n();
  const errorText = useErrorText();
  return (err) => {
    if (err instanceof ApiError) {
      if (err.code === 'workout_active') return t('athlete.edit.active');
      if (err.code === 'changed_meanwhile') return t('athlete.edit.changed');
      if (err.status === 404) return t('athlete.workout.notFound');
      if (err.status === 403) return t('athlete.edit.notOwner');
    }
    return errorText(err);
  };
}

export function EditForm({ w, onCancel, onSaved }: { w: Workout; onCancel: () => void; onSaved: (w: Workout) => void }) {
  const { t } = useI18n();
  const changeError = useChangeError();
  const [title, setTitle] = useState(w.title ?? '');
  const [sport, setSport] = useState(w.sport);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const live = LIVE_STATUSES.includes(w.status);
  const titleId = useId();
  useEffect(() => { document.getElementById(titleId)?.focus(); }, [titleId]);
  const submit = async (ev: FormEvent) => {
    ev.preventDefault();
    const body: { title?: string | null; sport?: string } = {};
    const trimmed = title.trim();
    if (trimmed !== (w.title ?? '')) body.title = trimmed === '' ? null : trimmed;
    if (sport !== w.sport) body.sport = sport;
    if (Object.keys(body).length === 0) { onCancel(); return; }
    setBusy(true);
    setError(null);
    try {
      onSaved(await api<Workout>('PATCH', `/v1/workouts/${w.id}`, body));
    } catch (err) {
      setError(changeError(err));
      setBusy(false);
    }
  };
  return (
    <form className="edit-form" onSubmit={(ev) => void submit(ev)} aria-label={t('athlete.edit.form')}>
      <div className="row">
        <Field id={titleId} label={t('athlete.edit.title')} hint={t('athlete.edit.titleHint')} value={title}
          maxLength={120} onChange={(e) => setTitle(e.target.value)} />
        {live ? (
          <p className="hint">{t('athlete.edit.sportLater')}</p>
        ) : (
          <Select label={t('athlete.edit.sport')} value={sport} onChange={setSport}
            options={SPORTS.map((s): [string, string] => [s, sportName(t, s)])} />
        )}
      </div>
      {sport !== w.sport ? <p className="hint">{t('athlete.edit.recompute')}</p> : null}
      <Alert>{error}</Alert>
      <div className="row">
        <button type="submit" className="primary" disabled={busy}>{busy ? t('athlete.edit.saving') : t('common.save')}</button>
        <button type="button" className="secondary" onClick={onCancel} disabled={busy}>{t('common.cancel')}</button>
      </div>
    </form>
  );
}

export function DeleteDialog({ w, onCancel, onDeleted }: {
  w: Workout; onCancel: () => void; onDeleted: (w: Workout, title: string) => void;
}) {
  const { t, locale } = useI18n();
  const changeError = useChangeError();
  const dialog = useRef<HTMLDialogElement>(null);
  const cancel = useRef<HTMLButtonElement>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const title = titleOf(w, t, locale);
  useEffect(() => {
    const d = dialog.current;
    if (d && !d.open) d.showModal();
    cancel.current?.focus();
    return () => { if (d?.open) d.close(); };
  }, []);
  const confirm = async () => {
    setBusy(true);
    setError(null);
    try {
      await api('DELETE', `/v1/workouts/${w.id}`);
      onDeleted(w, title);
    } catch (err) {
      setError(changeError(err));
      setBusy(false);
    }
  };
  return (
    <dialog ref={dialog} className="confirm-dialog" aria-labelledby="delete-title" aria-describedby="delete-text"
      onCancel={(ev) => { ev.preventDefault(); if (!busy) onCancel(); }}>
      <h2 id="delete-title">{t('athlete.delete.title')}</h2>
      <p id="delete-text">{t('athlete.delete.text', { title })}</p>
      <Alert>{error}</Alert>
      <div className="row">
        <button type="button" className="danger" disabled={busy} onClick={() => void confirm()}>
          {busy ? t('athlete.delete.deleting') : t('athlete.delete.confirm')}
        </button>
        <button type="button" ref={cancel} className="secondary" disabled={busy} onClick={onCancel}>{t('common.cancel')}</button>
      </div>
    </dialog>
  );
}
