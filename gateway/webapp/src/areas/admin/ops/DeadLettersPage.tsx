// The dead-letter topic's newest records (persisted query DeadLetters): where each came from,
// why the sink refused it and how it was settled. A record opens on its own page to be
// replayed or discarded. Payloads are never shown (the API does not send them).

import { useState } from 'react';
import { graphql } from '../../../core/api';
import { fmtDateTime } from '../../../core/format';
import { useI18n } from '../../../core/i18n';
import { Link } from '../../../core/router';
import { Card, LoadState, Page, Select, useLoad } from '../../../core/ui';
import { TableWrap } from './TableWrap';
import { type DeadLetter, detailPath, position, statusKey } from './model';

const LIMIT = 200;

type Filter = 'unsettled' | 'all';

export function StatusBadge({ letter }: { letter: DeadLetter }) {
  const { t } = useI18n();
  const settled = letter.settlement !== null;
  return (
    <span className={`badge ops-status ${settled ? 'ops-status-settled' : 'ops-status-unsettled'}`}>
      <span aria-hidden="true">{settled ? '✓ ' : '! '}</span>{t(statusKey(letter.settlement))}
    </span>
  );
}

function LetterTable({ letters, filter }: { letters: DeadLetter[]; filter: Filter }) {
  const { t, locale } = useI18n();
  const shown = filter === 'all' ? letters : letters.filter((d) => d.settlement === null);
  if (letters.length === 0) return <p>{t('ops.dl.none')}</p>;
  return (
    <>
      <p className="hint">{t('ops.dl.count', { shown: shown.length, total: letters.length })}</p>
      {shown.length === 0 ? <p>{t('ops.dl.noneUnsettled')}</p> : (
        <TableWrap label={t('ops.dl.table')}>
          <table>
            <thead>
              <tr>
                <th scope="col">{t('ops.dl.position')}</th>
                <th scope="col">{t('ops.dl.at')}</th>
                <th scope="col">{t('ops.dl.source')}</th>
                <th scope="col">{t('ops.dl.event')}</th>
                <th scope="col">{t('ops.dl.error')}</th>
                <th scope="col">{t('ops.dl.status')}</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((d) => (
                <tr key={position(d)}>
                  <th scope="row">
                    <Link to={detailPath(d)}>
                      <span className="visually-hidden">{t('ops.dl.position')} </span>{position(d)}
                    </Link>
                  </th>
                  <td>{fmtDateTime(d.at, locale)}</td>
                  <td>{d.source}</td>
                  <td>{d.eventType ?? t('ops.dl.notEvent')}</td>
                  <td className="ops-error">{d.error}</td>
                  <td><StatusBadge letter={d} /></td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableWrap>
      )}
    </>
  );
}

export function DeadLettersPage() {
  const { t } = useI18n();
  const [filter, setFilter] = useState<Filter>('unsettled');
  const loaded = useLoad(
    () => graphql<{ deadLetters: DeadLetter[] }>('DeadLetters', { limit: LIMIT }).then((d) => d.deadLetters), []);
  const refresh = () => { if (!loaded.loading) loaded.reload(); };
  return (
    <Page title={t('ops.dl.title')} actions={
      <button type="button" className="secondary" onClick={refresh} aria-disabled={loaded.loading}>
        {t('ops.refresh')}</button>}>
      <p className="hint">{t('ops.dl.intro')}</p>
      <Card title={t('ops.dl.list')}>
        <Select label={t('ops.dl.show')} value={filter} onChange={(v) => setFilter(v as Filter)}
          options={[['unsettled', t('ops.dl.show.unsettled')], ['all', t('ops.dl.show.all')]]} />
        <p role="status" className="visually-hidden">{loaded.loading && loaded.data ? t('common.loading') : ''}</p>
        <LoadState loaded={loaded}>{(letters) => <LetterTable letters={letters} filter={filter} />}</LoadState>
      </Card>
    </Page>
  );
}
