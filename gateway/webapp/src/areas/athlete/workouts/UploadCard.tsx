// Upload a GPX or FIT file as a finished workout (POST /v1/workouts/import, multipart):
// the bytes sent as a progress bar, then "Processing…" while the server replays the file
// through the workout's metrics, then a link to the new workout — or what was wrong with
// the file, in words (413 too large, 422 not readable / no timed points / impossible values).

import { type FormEvent, useRef, useState } from 'react';
import { ApiError } from '../../../core/api';
import { fmtDistance } from '../../../core/format';
import { useI18n } from '../../../core/i18n';
import { Link } from '../../../core/router';
import { Alert, Card, Field, Select, useErrorText } from '../../../core/ui';
import { SPORTS, uploadWorkout, type Workout } from './model';
import { sportName, titleOf } from './names';

type Phase = { kind: 'idle' } | { kind: 'sending'; fraction: number } | { kind: 'processing' }
  | { kind: 'done'; w: Workout } | { kind: 'failed'; message: string };

export function UploadCard({ onUploaded }: { onUploaded: (w: Workout) => void }) {
  const { t, locale } = useI18n();
  const errorText = useErrorText();
  const [file, setFile] = useState<File | null>(null);
  const [sport, setSport] = useState('run');
  const [title, setTitle] = useState('');
  const [fileError, setFileError] = useState<string | null>(null);
  const [phase, setPhase] = useState<Phase>({ kind: 'idle' });
  const fileInput = useRef<HTMLInputElement>(null);
  const busy = phase.kind === 'sending' || phase.kind === 'processing';

  const explain = (err: unknown, f: File): string => {
    if (!(err instanceof ApiError)) return errorText(err);
    switch (err.code) {
      case 'too_large': return t('athlete.upload.tooLarge', { name: f.name, message: err.message });
      case 'unreadable_file': return t('athlete.upload.unreadable', { name: f.name, message: err.message });
      case 'no_track_points': return t('athlete.upload.noPoints', { name: f.name });
      case 'invalid_track': return t('athlete.upload.invalid', { message: err.message });
      case 'imports_busy': return t('athlete.upload.busy', { s: err.retryAfter ?? '…' });
      case 'import_in_progress': return t('athlete.upload.inProgress');
      case 'too_many_imports': return t('athlete.upload.tooMany', { s: err.retryAfter ?? '…' });
      default:
        if (err.status === 413) return t('athlete.upload.tooLarge', { name: f.name, message: '' });
        if (err.status === 0) return t('athlete.upload.noAnswer');
        return errorText(err);
    }
  };

  const submit = async (ev: FormEvent) => {
    ev.preventDefault();
    if (!file) {
      setFileError(t('athlete.upload.choose'));
      fileInput.current?.focus();
      return;
    }
    setFileError(null);
    const form = new FormData();
    form.append('file', file, file.name);
    form.append('sport', sport);
    if (title.trim()) form.append('title', title.trim());
    setPhase({ kind: 'sending', fraction: 0 });
    try {
      const w = await uploadWorkout(form, (fraction) => setPhase(
        fraction >= 1 ? { kind: 'processing' } : { kind: 'sending', fraction }));
      setPhase({ kind: 'done', w });
      setFile(null);
      setTitle('');
      if (fileInput.current) fileInput.current.value = '';
      onUploaded(w);
    } catch (err) {
      setPhase({ kind: 'failed', message: explain(err, file) });
    }
  };

  return (
    <Card title={t('athlete.upload.title')} className="upload-card">
      <form onSubmit={(ev) => void submit(ev)} noValidate>
        <div className="row">
          <Field ref={fileInput} id="upload-file" type="file" accept=".gpx,.fit,application/gpx+xml,application/vnd.ant.fit"
            label={t('athlete.upload.file')} hint={t('athlete.upload.hint')} error={fileError}
            onChange={(e) => { setFile(e.target.files?.[0] ?? null); setFileError(null); setPhase({ kind: 'idle' }); }} />
          <Select id="upload-sport" label={t('athlete.upload.sport')} value={sport} onChange={setSport}
            options={SPORTS.map((s): [string, string] => [s, sportName(t, s)])} />
          <Field id="upload-title" label={t('athlete.upload.name')} value={title} maxLength={120}
            onChange={(e) => setTitle(e.target.value)} />
        </div>
        <div className="row">
          <button type="submit" className="primary" disabled={busy}>{t('athlete.upload.submit')}</button>
        </div>
      </form>
      {phase.kind === 'sending' || phase.kind === 'processing' ? (
        <div className="upload-progress">
          <progress id="upload-progress" max={1} value={phase.kind === 'sending' ? phase.fraction : undefined}
            aria-label={t('athlete.upload.progress')} />
          <p role="status">{phase.kind === 'sending'
            ? t('athlete.upload.sending', { pct: Math.round(phase.fraction * 100) })
            : t('athlete.upload.processing')}</p>
        </div>
      ) : null}
      {phase.kind === 'failed' ? <Alert>{phase.message}</Alert> : null}
      {phase.kind === 'done' ? (
        <p className="alert alert-ok" role="status">
          {t('athlete.upload.done')}{' '}
          <Link to={`/app/workouts/${phase.w.id}`}>{titleOf(phase.w, t, locale)}</Link>
          {' '}({fmtDistance(phase.w.distance_m)})
        </p>
      ) : null}
    </Card>
  );
}
