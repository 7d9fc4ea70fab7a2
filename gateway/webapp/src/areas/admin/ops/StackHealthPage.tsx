// Stack health (persisted query StackHealth): every part's probe with its latency and what it
// found, the stream worker's consumer lag per topic (a bar chart, and the same figures as a
// table), the dead-letter count. Asked when the page opens and again on Refresh.

import { graphql } from '../../../core/api';
import { type Translate, useI18n } from '../../../core/i18n';
import { Link } from '../../../core/router';
import { Alert, Card, LoadState, Page, useLoad } from '../../../core/ui';
import { TableWrap } from './TableWrap';
import { DEAD_LETTERS_PATH, type Probe, type StackHealth, type TopicLag } from './model';

function componentName(t: Translate, component: string): string {
  const key = `ops.health.component.${component}`;
  const name = t(key);
  return name === key ? component : name;
}

function Probes({ probes }: { probes: Probe[] }) {
  const { t, locale } = useI18n();
  const failed = probes.filter((p) => !p.ok).length;
  return (
    <Card title={t('ops.health.probes')}>
      {failed === 0
        ? <Alert kind="ok">{t('ops.health.summaryOk', { n: probes.length })}</Alert>
        : <Alert>{t('ops.health.summaryFailed', { failed, n: probes.length })}</Alert>}
      <TableWrap label={t('ops.health.probesTable')}>
        <table>
          <thead>
            <tr>
              <th scope="col">{t('ops.health.component')}</th>
              <th scope="col">{t('ops.health.status')}</th>
              <th scope="col" className="num">{t('ops.health.latency')}</th>
              <th scope="col">{t('ops.health.detail')}</th>
            </tr>
          </thead>
          <tbody>
            {probes.map((p) => (
              <tr key={p.component}>
                <th scope="row">{componentName(t, p.component)}</th>
                <td>
                  <span className={`badge ${p.ok ? 'ops-probe-ok' : 'ops-probe-failed'}`}>
                    <span aria-hidden="true">{p.ok ? '✓ ' : '✗ '}</span>
                    {t(p.ok ? 'ops.health.ok' : 'ops.health.failed')}
                  </span>
                </td>
                <td className="num">{t('ops.health.ms', {
                  ms: p.latencyMs.toLocaleString(locale, { maximumFractionDigits: 1 }) })}</td>
                <td className="ops-detail">{p.detail}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </TableWrap>
    </Card>
  );
}

const ROW_H = 40;
const WIDTH = 320;
const VALUE_W = 64;
const BAR_W = WIDTH - VALUE_W;

/** Horizontal bars, one per topic with its name above, scaled to the largest (narrow enough
 *  to read at phone width); its text alternative is the aria-label and the table beside it. */
function LagChart({ lag }: { lag: TopicLag[] }) {
  const { t, locale } = useI18n();
  const max = Math.max(1, ...lag.map((l) => l.records));
  const height = lag.length * ROW_H + 4;
  const values = lag.map((l) => t('ops.health.lagItem', { topic: l.topic, n: l.records.toLocaleString(locale) }))
    .join(', ');
  return (
    <figure>
      <svg className="plot ops-lag" viewBox={`0 0 ${WIDTH} ${height}`} role="img"
        aria-label={t('ops.health.lagChart', { values })}>
        {lag.map((l, i) => {
          const width = l.records > 0 ? Math.max(2, (BAR_W * l.records) / max) : 0;
          const y = 2 + i * ROW_H;
          return (
            <g key={l.topic}>
              <text className="ops-lag-label" x={0} y={y + 13}>{l.topic}</text>
              <line className="grid-line" x1={0} x2={0} y1={y + 18} y2={y + 36} />
              <rect className="ops-lag-bar" x={0} y={y + 20} width={width} height={14} />
              <text className="ops-lag-value" x={width + 6} y={y + 32}>{l.records.toLocaleString(locale)}</text>
            </g>
          );
        })}
      </svg>
      <figcaption>{t('ops.health.lagIntro')}</figcaption>
    </figure>
  );
}

function Lag({ lag }: { lag: TopicLag[] }) {
  const { t, locale } = useI18n();
  return (
    <Card title={t('ops.health.lag')}>
      {lag.length === 0 ? <p>{t('ops.health.lagUnknown')}</p> : (
        <>
          <LagChart lag={lag} />
          <TableWrap label={t('ops.health.lagTable')}>
            <table>
              <thead>
                <tr>
                  <th scope="col">{t('ops.health.topic')}</th>
                  <th scope="col" className="num">{t('ops.health.records')}</th>
                </tr>
              </thead>
              <tbody>
                {lag.map((l) => (
                  <tr key={l.topic}>
                    <th scope="row" className="ops-topic">{l.topic}</th>
                    <td className="num">{l.records.toLocaleString(locale)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableWrap>
        </>
      )}
    </Card>
  );
}

/** To the second: two checks a minute apart must read differently. */
const checkedAt = (iso: string, locale: string): string =>
  new Date(iso).toLocaleString(locale, { dateStyle: 'medium', timeStyle: 'medium' });

export function StackHealthPage() {
  const { t, locale } = useI18n();
  const loaded = useLoad(() => graphql<{ stackHealth: StackHealth }>('StackHealth').then((d) => d.stackHealth), []);
  const refresh = () => { if (!loaded.loading) loaded.reload(); };
  return (
    <Page title={t('ops.health.title')} actions={
      <button type="button" className="secondary" onClick={refresh} aria-disabled={loaded.loading}>
        {t('ops.refresh')}</button>}>
      <p className="hint">{t('ops.health.intro')}</p>
      <p role="status" className="hint">{loaded.loading ? (loaded.data ? t('ops.refreshing') : '')
        : loaded.data ? t('ops.health.checkedAt', { at: checkedAt(loaded.data.checkedAt, locale) }) : ''}</p>
      <LoadState loaded={loaded}>{(health) => (
        <>
          <Probes probes={health.probes} />
          <div className="grid">
            <Lag lag={health.lag} />
            <Card title={t('ops.health.deadLetters')}>
              <p>{health.deadLetters === null ? t('ops.health.deadLettersUnknown')
                : t('ops.health.deadLetterCount', { n: health.deadLetters.toLocaleString(locale) })}</p>
              <p><Link to={DEAD_LETTERS_PATH}>{t('ops.health.toDeadLetters')}</Link></p>
            </Card>
          </div>
        </>
      )}</LoadState>
    </Page>
  );
}
