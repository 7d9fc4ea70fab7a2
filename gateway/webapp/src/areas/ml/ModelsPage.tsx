// The model registry by type (`Models`) beside Ray Serve now (`ServeStatus`): every version
// with its metrics and recent latency, which one is deployed, deploy another or roll back —
// each after a confirmation, with its progress shown while Serve rolls it out.

import { useRef, useState } from 'react';
import { graphql } from '../../core/api';
import { Confirm } from '../../core/Confirm';
import { useUrlFilters } from '../../core/filters';
import { fmtDateTime } from '../../core/format';
import { useI18n } from '../../core/i18n';
import { Link } from '../../core/router';
import { Alert, LoadState, Page, Select, useLoad } from '../../core/ui';
import { ActionProgress, useModelAction } from './deploy';
import './messages';
import { ServeCard } from './ServeCard';
import { useServeStatus } from './serveStatus';
import { fmtMetric, fmtMs, type Model, type ServeApp, useTypeLabel } from './types';

const KEYS = ['type'] as const;
const KEY_METRICS = 3;

export function ModelsPage() {
  const { t } = useI18n();
  const typeLabel = useTypeLabel();
  const filters = useUrlFilters(KEYS);
  const resultHeading = useRef<HTMLHeadingElement>(null);
  const [running, setRunning] = useState(false);
  const live = useServeStatus(running);
  const types = live.status?.apps.map((a) => a.type) ?? [];
  const type = filters.applied.type || types[0] || '';
  const models = useLoad(() => (type ? graphql<{ models: Model[] }>('Models', { type }) : Promise.resolve({ models: [] })), [type]);
  const action = useModelAction(() => {
    setRunning(false);
    models.reload();
    live.refresh();
    window.setTimeout(() => resultHeading.current?.focus(), 0);
  });
  const app = live.status?.apps.find((a) => a.type === type);

  const choose = (value: string) => filters.apply({ type: value });
  const options: [string, string][] = (types.includes(type) || !type ? types : [...types, type])
    .map((x) => [x, typeLabel(x)]);
  return (
    <Page title={t('ml.models.title')}>
      <ServeCard live={live} />
      <section className="card" aria-labelledby="ml-versions">
        <h2 id="ml-versions" ref={resultHeading} tabIndex={-1}>
          {type ? t('ml.models.versionsOf', { type: typeLabel(type) }) : t('ml.models.versions')}</h2>
        {options.length > 0 ? (
          <div className="row"><Select label={t('ml.type')} value={type} onChange={choose} options={options} /></div>
        ) : null}
        {action.result ? <Alert kind={action.result.kind}>{action.result.text}</Alert> : null}
        {action.running ? <ActionProgress running={action.running} app={app} /> : null}
        {type ? (
          <LoadState loaded={models}>
            {({ models: list }) => (
              <Versions type={type} list={list} app={app} busy={action.running !== null}
                focusHeading={() => resultHeading.current?.focus()}
                run={(kind, version) => { setRunning(true); void action.run(kind, type, version); }} />
            )}
          </LoadState>
        ) : <p role="status" className="hint">{t('common.loading')}</p>}
      </section>
    </Page>
  );
}

function Versions({ type, list, app, busy, run, focusHeading }: {
  type: string; list: Model[]; app: ServeApp | undefined; busy: boolean;
  run: (kind: 'deploy' | 'rollback', version: string | null) => void; focusHeading: () => void;
}) {
  const { t, locale } = useI18n();
  const typeLabel = useTypeLabel();
  const [asking, setAsking] = useState<{ kind: 'deploy' | 'rollback'; version: string | null } | null>(null);
  const deployed = list.find((m) => m.status === 'deployed');
  const previous = deployed?.previousId ? list.find((m) => m.id === deployed.previousId) : undefined;
  const latency = (version: string) => app?.latency.find((l) => l.version === version);

  const confirm = () => {
    if (!asking) return;
    setAsking(null);
    run(asking.kind, asking.version);
  };
  if (list.length === 0) return <p>{t('ml.models.none')}</p>;
  return (
    <>
      <p>{deployed ? t('ml.models.deployedNow', { version: deployed.version }) : t('ml.models.noneDeployed')}</p>
      {deployed && previous ? (
        <p>
          <button type="button" className="secondary" disabled={busy}
            onClick={() => setAsking({ kind: 'rollback', version: previous.version })}>
            {t('ml.rollback.button', { version: previous.version })}</button>
        </p>
      ) : null}
      {asking ? (
        <Confirm kind={asking.kind === 'deploy' ? 'primary' : 'danger'} onConfirm={confirm}
          onCancel={() => { setAsking(null); focusHeading(); }}
          confirmLabel={t(asking.kind === 'deploy' ? 'ml.deploy.confirm' : 'ml.rollback.confirm', { version: asking.version ?? '' })}>
          <p>{t(asking.kind === 'deploy' ? 'ml.deploy.ask' : 'ml.rollback.ask',
            { type: typeLabel(type), version: asking.version ?? '', current: deployed?.version ?? t('ml.models.nothing') })}</p>
          <p className="hint">{t('ml.deploy.how')}</p>
        </Confirm>
      ) : null}
      <div className="table-wrap ml-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">{t('ml.version')}</th>
              <th scope="col">{t('ml.models.state')}</th>
              <th scope="col">{t('ml.models.metrics')}</th>
              <th scope="col">{t('ml.models.latency')}</th>
              <th scope="col">{t('ml.models.registered')}</th>
              <th scope="col">{t('ml.models.deployedAt')}</th>
              <th scope="col"><span className="visually-hidden">{t('ml.actions')}</span></th>
            </tr>
          </thead>
          <tbody>
            {list.map((m) => {
              const l = latency(m.version);
              return (
                <tr key={m.id} className={m.status === 'deployed' ? 'ml-deployed' : undefined}>
                  <th scope="row"><Link to={`/app/ml/models/${encodeURIComponent(m.type)}/${encodeURIComponent(m.version)}`}>{m.version}</Link></th>
                  <td><span className={`badge ml-state-${m.status}`}>{t(`ml.state.${m.status}`)}</span></td>
                  <td>{Object.entries(m.metrics ?? {}).filter(([, v]) => typeof v === 'number').slice(0, KEY_METRICS)
                    .map(([k, v]) => `${k} ${fmtMetric(v)}`).join(', ') || '–'}</td>
                  <td>{l ? t('ml.models.latencyIs', { p50: fmtMs(l.p50Ms), p95: fmtMs(l.p95Ms), n: l.answers }) : '–'}</td>
                  <td>{fmtDateTime(m.createdAt, locale)}</td>
                  <td>{fmtDateTime(m.deployedAt, locale)}</td>
                  <td>
                    {m.status === 'deployed' ? <span className="hint">{t('ml.models.serving')}</span> : (
                      <button type="button" className="primary" disabled={busy}
                        onClick={() => setAsking({ kind: 'deploy', version: m.version })}
                        aria-label={t('ml.deploy.named', { type: typeLabel(m.type), version: m.version })}>
                        {t('ml.deploy.button')}</button>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </>
  );
}
