// One dead-lettered record (persisted query DeadLetterDetail) with its journal entry, and, while
// it is unsettled, the way to settle it: a note saying why, then Replay… or Discard…, each
// asking for confirmation before it runs (ReplayDeadLetter / DiscardDeadLetter). A record is
// settled once: if someone else was quicker, the API says `already_settled` and the page shows
// what they did.

import { type KeyboardEvent, useEffect, useId, useRef, useState } from 'react';
import { ApiError, graphql } from '../../../core/api';
import { fmtDateTime } from '../../../core/format';
import { useI18n } from '../../../core/i18n';
import { Link } from '../../../core/router';
import { Alert, Card, Field, LoadState, Page, useErrorText, useLoad } from '../../../core/ui';
import { StatusBadge } from './DeadLettersPage';
import { DEAD_LETTERS_PATH, type DeadLetter, position, type Settlement } from './model';

type Action = 'replay' | 'discard';

function Facts({ letter }: { letter: DeadLetter }) {
  const { t, locale } = useI18n();
  return (
    <dl className="facts ops-facts">
      <dt>{t('ops.dl.status')}</dt><dd><StatusBadge letter={letter} /></dd>
      <dt>{t('ops.dl.detail.partition')}</dt><dd>{letter.partition}</dd>
      <dt>{t('ops.dl.detail.offset')}</dt><dd>{letter.offset}</dd>
      <dt>{t('ops.dl.at')}</dt><dd>{fmtDateTime(letter.at, locale)}</dd>
      <dt>{t('ops.dl.source')}</dt><dd>{letter.source}</dd>
      <dt>{t('ops.dl.event')}</dt><dd>{letter.eventType ?? t('ops.dl.notEvent')}</dd>
      <dt>{t('ops.dl.error')}</dt><dd>{letter.error}</dd>
      <dt>{t('ops.dl.detail.workout')}</dt><dd className="ops-id">{letter.workoutId ?? '–'}</dd>
      <dt>{t('ops.dl.detail.user')}</dt><dd className="ops-id">{letter.userId ?? '–'}</dd>
      <dt>{t('ops.dl.detail.size')}</dt>
      <dd>{t('ops.dl.detail.bytes', { n: letter.sizeBytes.toLocaleString(locale) })}</dd>
    </dl>
  );
}

function JournalEntry({ settlement }: { settlement: Settlement }) {
  const { t, locale } = useI18n();
  const at = fmtDateTime(settlement.at, locale);
  return (
    <>
      <p>{settlement.action === 'REPLAYED'
        ? t('ops.dl.journal.replayed', { topic: settlement.replayedTo ?? '', at })
        : t('ops.dl.journal.discarded', { at })}</p>
      <dl className="facts ops-facts">
        <dt>{t('ops.dl.journal.by')}</dt><dd className="ops-id">{settlement.actorId}</dd>
        <dt>{t('ops.dl.journal.note')}</dt><dd>{settlement.note}</dd>
      </dl>
    </>
  );
}

/** The note and the two actions, each confirmed before it runs. */
function SettleForm({ letter, onDone }: {
  letter: DeadLetter; onDone: (message: { kind: 'ok' | 'info'; text: string }) => void;
}) {
  const { t } = useI18n();
  const errorText = useErrorText();
  const [note, setNote] = useState('');
  const [noteError, setNoteError] = useState<string | null>(null);
  const [asking, setAsking] = useState<Action | null>(null);
  const [opener, setOpener] = useState<Action | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const noteRef = useRef<HTMLInputElement>(null);
  const confirmRef = useRef<HTMLButtonElement>(null);
  const replayRef = useRef<HTMLButtonElement>(null);
  const discardRef = useRef<HTMLButtonElement>(null);
  const titleId = useId();
  const bodyId = useId();
  const where = position(letter);

  useEffect(() => {
    if (asking) confirmRef.current?.focus();
    else if (opener) (opener === 'replay' ? replayRef : discardRef).current?.focus();
  }, [asking, opener]);

  function ask(action: Action) {
    setError(null);
    if (!note.trim()) {
      setNoteError(t('ops.dl.noteMissing'));
      noteRef.current?.focus();
      return;
    }
    setNoteError(null);
    setOpener(action);
    setAsking(action);
  }

  function cancel() { setAsking(null); }

  async function confirm() {
    if (!asking || busy) return;
    setBusy(true);
    setError(null);
    const variables = { partition: letter.partition, offset: letter.offset, note: note.trim() };
    try {
      if (asking === 'replay') {
        const done = await graphql<{ replayDeadLetter: { settlement: Settlement } }>('ReplayDeadLetter', variables);
        onDone({ kind: 'ok', text: t('ops.dl.done.replayed', { topic: done.replayDeadLetter.settlement.replayedTo ?? '' }) });
      } else {
        await graphql('DiscardDeadLetter', variables);
        onDone({ kind: 'ok', text: t('ops.dl.done.discarded') });
      }
    } catch (err) {
      if (err instanceof ApiError && err.code === 'already_settled') {
        onDone({ kind: 'info', text: t('ops.dl.alreadySettled') });
      } else {
        setError(errorText(err));
        setAsking(null);
      }
    } finally {
      setBusy(false);
    }
  }

  function onKeyDown(ev: KeyboardEvent<HTMLDivElement>) {
    if (ev.key === 'Escape') { ev.preventDefault(); cancel(); }
  }

  return (
    <>
      <Alert>{error}</Alert>
      <Field ref={noteRef} label={t('ops.dl.note')} hint={t('ops.dl.noteHint')} error={noteError}
        value={note} maxLength={500} required autoComplete="off" readOnly={asking !== null}
        onChange={(e) => { setNote(e.target.value); if (noteError) setNoteError(null); }} />
      {asking === null ? (
        <div className="ops-actions">
          <button type="button" ref={replayRef} className="primary" onClick={() => ask('replay')}>
            {t('ops.dl.replay')}</button>
          <button type="button" ref={discardRef} className="danger" onClick={() => ask('discard')}>
            {t('ops.dl.discard')}</button>
        </div>
      ) : (
        <div className={`ops-confirm ${asking === 'discard' ? 'ops-confirm-discard' : ''}`} role="group"
          aria-labelledby={titleId} onKeyDown={onKeyDown}>
          <h3 id={titleId}>{t(asking === 'replay' ? 'ops.dl.confirm.replayTitle' : 'ops.dl.confirm.discardTitle',
            { position: where })}</h3>
          <p id={bodyId}>{asking === 'replay'
            ? t('ops.dl.confirm.replayBody', { topic: letter.source })
            : t('ops.dl.confirm.discardBody')}</p>
          <div className="ops-actions">
            <button type="button" ref={confirmRef} className={asking === 'replay' ? 'primary' : 'danger'}
              aria-describedby={bodyId} aria-disabled={busy} onClick={() => void confirm()}>
              {t(asking === 'replay' ? 'ops.dl.confirm.replay' : 'ops.dl.confirm.discard')}</button>
            <button type="button" className="secondary" onClick={cancel}>{t('common.cancel')}</button>
          </div>
        </div>
      )}
    </>
  );
}

export function DeadLetterPage({ partition, offset }: { partition: string; offset: string }) {
  const { t } = useI18n();
  const valid = /^\d{1,9}$/.test(partition) && /^\d{1,18}$/.test(offset);
  const [message, setMessage] = useState<{ kind: 'ok' | 'info'; text: string } | null>(null);
  const journalHeading = useRef<HTMLHeadingElement>(null);
  const loaded = useLoad(async () => {
    if (!valid) return { letter: null };
    const found = await graphql<{ deadLetter: DeadLetter | null }>(
      'DeadLetterDetail', { partition: Number(partition), offset: Number(offset) });
    return { letter: found.deadLetter };
  }, [partition, offset]);

  useEffect(() => { if (message) journalHeading.current?.focus(); }, [message, loaded.data]);

  function settled(next: { kind: 'ok' | 'info'; text: string }) {
    setMessage(next);
    loaded.reload();
  }

  return (
    <Page title={t('ops.dl.detail.title', { position: `${partition}:${offset}` })}>
      <p><Link to={DEAD_LETTERS_PATH}>{t('ops.dl.detail.back')}</Link></p>
      <LoadState loaded={loaded}>{({ letter }) => letter === null ? (
        <Alert kind="info">{t('ops.dl.detail.notFound')}</Alert>
      ) : (
        <div className="grid">
          <Card title={t('ops.dl.detail.facts')}><Facts letter={letter} /></Card>
          <section className="card" aria-labelledby="ops-journal">
            <h2 id="ops-journal" ref={journalHeading} tabIndex={-1}>{t('ops.dl.journal')}</h2>
            {message ? <Alert kind={message.kind}>{message.text}</Alert> : null}
            {letter.settlement ? <JournalEntry settlement={letter.settlement} /> : (
              <>
                <p>{t('ops.dl.journal.unsettled')}</p>
                <SettleForm letter={letter} onDone={settled} />
              </>
            )}
          </section>
        </div>
      )}</LoadState>
    </Page>
  );
}
