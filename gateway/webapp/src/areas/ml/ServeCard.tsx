// Ray Serve now: per model type, the application's status, the version the registry marks
// deployed next to the one Serve answers with (they differ while a deploy runs, or when
// something is wrong: marked in words), how long it took to answer just now, and the
// latency its callers logged in the last minutes.

import { fmtDateTime } from '../../core/format';
import { useI18n } from '../../core/i18n';
import { Alert, useErrorText } from '../../core/ui';
import { Scroll } from './Scroll';
import type { LiveServe } from './serveStatus';
import { fmtMs, useStatusLabel, useTypeLabel } from './types';

export function ServeCard({ live }: { live: LiveServe }) {
  const { t, locale } = useI18n();
  const errorText = useErrorText();
  const statusLabel = useStatusLabel();
  const typeLabel = useTypeLabel();
  const { status, error } = live;
  return (
    <section className="card" aria-labelledby="serve-now">
      <div className="ml-head">
        <h2 id="serve-now">{t('ml.serve.title')}</h2>
        <button type="button" className="secondary" onClick={live.refresh}>{t('ml.serve.refresh')}</button>
      </div>
      <p className="hint">
        {status ? t('ml.serve.checked', { when: fmtDateTime(status.checkedAt, locale), m: status.windowMinutes })
          : t('common.loading')}
      </p>
      {error ? <Alert>{errorText(error)}</Alert> : null}
      {status?.detail ? <Alert>{t('ml.serve.unreachable', { why: status.detail })}</Alert> : null}
      {status ? (
        <Scroll label={t('ml.serve.title')}>
          <table>
            <thead>
              <tr>
                <th scope="col">{t('ml.type')}</th>
                <th scope="col">{t('ml.serve.status')}</th>
                <th scope="col">{t('ml.serve.registered')}</th>
                <th scope="col">{t('ml.serve.serving')}</th>
                <th scope="col" className="num">{t('ml.serve.answered')}</th>
                <th scope="col" className="num">{t('ml.serve.answers', { m: status.windowMinutes })}</th>
                <th scope="col" className="num">{t('ml.serve.p50')}</th>
                <th scope="col" className="num">{t('ml.serve.p95')}</th>
                <th scope="col" className="num">{t('ml.serve.max')}</th>
              </tr>
            </thead>
            <tbody>
              {status.apps.map((a) => {
                const mine = a.latency.find((l) => l.version === a.serving);
                const answers = mine?.answers ?? 0;
                const differs = a.registered !== a.serving;
                return (
                  <tr key={a.type}>
                    <th scope="row">{typeLabel(a.type)}</th>
                    <td><span className={`badge ml-status ml-status-${a.status === 'RUNNING' ? 'ok' : 'other'}`}>{statusLabel(a.status)}</span>
                      {a.batching === false ? <> <span className="badge">{t('ml.serve.unbatched')}</span></> : null}</td>
                    <td>{a.registered ?? '–'}</td>
                    <td>{a.serving ?? '–'}{differs && a.status !== 'DEPLOYING'
                      ? <> <span className="badge ml-warn">{t('ml.serve.mismatch')}</span></> : null}</td>
                    <td className="num">{fmtMs(a.answeredMs)}</td>
                    <td className="num">{answers}</td>
                    <td className="num">{fmtMs(mine?.p50Ms)}</td>
                    <td className="num">{fmtMs(mine?.p95Ms)}</td>
                    <td className="num">{fmtMs(mine?.maxMs)}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </Scroll>
      ) : null}
      <p className="hint">{t('ml.serve.note')}</p>
    </section>
  );
}
