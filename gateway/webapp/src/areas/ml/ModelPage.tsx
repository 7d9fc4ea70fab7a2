// One model version (`ModelDetail`): its facts and every metric it was registered with, its
// recent latency on Ray Serve, its type's deploys and rollbacks — and deploying it.

import { useRef, useState } from 'react';
import { graphql } from '../../core/api';
import { Confirm } from '../../core/Confirm';
import { fmtDateTime } from '../../core/format';
import { useI18n } from '../../core/i18n';
import { Link } from '../../core/router';
import { Alert, LoadState, Page, useLoad } from '../../core/ui';
import { ActionProgress, useModelAction } from './deploy';
import './messages';
import { Scroll } from './Scroll';
import { useServeStatus } from './serveStatus';
import { type Deployment, fmtMetric, fmtMs, type Model, useStatusLabel, useTypeLabel } from './types';

interface Detail { model: { model: Model; history: Deployment[] } | null }

export function ModelPage({ type, version }: { type: string; version: string }) {
  const { t, locale } = useI18n();
  const typeLabel = useTypeLabel();
  const statusLabel = useStatusLabel();
  const heading = useRef<HTMLHeadingElement>(null);
  const [running, setRunning] = useState(false);
  const [asking, setAsking] = useState(false);
  const live = useServeStatus(running);
  const loaded = useLoad(() => graphql<Detail>('ModelDetail', { type, version }), [type, version]);
  const action = useModelAction(() => {
    setRunning(false);
    loaded.reload();
    live.refresh();
    window.setTimeout(() => heading.current?.focus(), 0);
  });
  const app = live.status?.apps.find((a) => a.type === type);
  const latency = app?.latency.find((l) => l.version === version);
  const title = t('ml.model.title', { type: typeLabel(type), version });
  return (
    <Page title={title}>
      <p><Link to={`/app/ml/models?type=${encodeURIComponent(type)}`}>{t('ml.model.back', { type: typeLabel(type) })}</Link></p>
      <LoadState loaded={loaded}>
        {({ model: detail }) => (detail === null ? <p>{t('ml.model.missing')}</p> : (
          <>
            <section className="card" aria-labelledby="model-state">
              <h2 id="model-state" ref={heading} tabIndex={-1}>{t('ml.model.state')}</h2>
              {action.result ? <Alert kind={action.result.kind}>{action.result.text}</Alert> : null}
              <dl className="facts ml-facts">
                <dt>{t('ml.models.state')}</dt><dd>{t(`ml.state.${detail.model.status}`)}</dd>
                <dt>{t('ml.models.registered')}</dt><dd>{fmtDateTime(detail.model.createdAt, locale)}</dd>
                <dt>{t('ml.models.deployedAt')}</dt><dd>{fmtDateTime(detail.model.deployedAt, locale)}</dd>
                <dt>{t('ml.model.schema')}</dt><dd>{detail.model.featureSchema ?? '–'}</dd>
                <dt>{t('ml.model.checksum')}</dt><dd><code className="ml-code">{detail.model.checksum ?? '–'}</code></dd>
                <dt>{t('ml.model.onServe')}</dt>
                <dd>{app ? t('ml.model.serveIs', { status: statusLabel(app.status), serving: app.serving ?? '–' }) : t('common.loading')}</dd>
                <dt>{t('ml.models.latency')}</dt>
                <dd>{latency ? t('ml.models.latencyIs', { p50: fmtMs(latency.p50Ms), p95: fmtMs(latency.p95Ms), n: latency.answers })
                  : t('ml.model.noLatency', { m: live.status?.windowMinutes ?? 15 })}</dd>
              </dl>
              {action.running ? <ActionProgress running={action.running} app={app} /> : null}
              {detail.model.status !== 'deployed' && !action.running && !asking ? (
                <p><button type="button" className="primary" onClick={() => setAsking(true)}>
                  {t('ml.deploy.named', { type: typeLabel(type), version })}</button></p>
              ) : null}
              {asking ? (
                <Confirm kind="primary" confirmLabel={t('ml.deploy.confirm', { version })}
                  onConfirm={() => { setAsking(false); setRunning(true); void action.run('deploy', type, version); }}
                  onCancel={() => { setAsking(false); heading.current?.focus(); }}>
                  <p>{t('ml.deploy.ask', { type: typeLabel(type), version, current: app?.registered ?? t('ml.models.nothing') })}</p>
                  <p className="hint">{t('ml.deploy.how')}</p>
                </Confirm>
              ) : null}
            </section>
            <section className="card" aria-labelledby="model-metrics">
              <h2 id="model-metrics">{t('ml.model.metrics')}</h2>
              {Object.keys(detail.model.metrics ?? {}).length === 0 ? <p>{t('ml.model.noMetrics')}</p> : (
                <Scroll label={t('ml.model.metrics')}>
                  <table>
                    <thead><tr><th scope="col">{t('ml.model.metric')}</th><th scope="col" className="num">{t('ml.model.value')}</th></tr></thead>
                    <tbody>
                      {Object.entries(detail.model.metrics).map(([k, v]) => (
                        <tr key={k}><th scope="row">{k}</th><td className="num">{fmtMetric(v)}</td></tr>
                      ))}
                    </tbody>
                  </table>
                </Scroll>
              )}
            </section>
            <section className="card" aria-labelledby="model-history">
              <h2 id="model-history">{t('ml.model.history', { type: typeLabel(type) })}</h2>
              {detail.history.length === 0 ? <p>{t('ml.model.noHistory')}</p> : (
                <Scroll label={t('ml.model.history', { type: typeLabel(type) })}>
                  <table>
                    <thead>
                      <tr>
                        <th scope="col">{t('ml.when')}</th>
                        <th scope="col">{t('ml.model.action')}</th>
                        <th scope="col">{t('ml.model.from')}</th>
                        <th scope="col">{t('ml.model.to')}</th>
                      </tr>
                    </thead>
                    <tbody>
                      {detail.history.map((d) => (
                        <tr key={`${d.at}-${d.toVersion}`}>
                          <th scope="row">{fmtDateTime(d.at, locale)}</th>
                          <td>{t(`ml.model.action.${d.action}`)}</td>
                          <td>{d.fromVersion ?? '–'}</td>
                          <td>{d.toVersion}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </Scroll>
              )}
            </section>
          </>
        ))}
      </LoadState>
    </Page>
  );
}
