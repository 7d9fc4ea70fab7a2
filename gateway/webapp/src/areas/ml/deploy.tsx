// Deploying a version or rolling a type back, with its progress: the mutation answers only
// once Ray Serve runs the new version (serve/control.py; tens of seconds on a small node), so
// meanwhile the page shows what Serve reports (polled faster while it runs) and the time
// taken, announces each phase once, and announces the result — success or why not.

import { useEffect, useRef, useState } from 'react';
import { graphql } from '../../core/api';
import { useT } from '../../core/i18n';
import { useErrorText } from '../../core/ui';
import { type ServeApp, useStatusLabel, useTypeLabel } from './types';

export interface Running {
  kind: 'deploy' | 'rollback';
  type: string;
  /** The version asked for (a rollback's target, when known). */
  version: string | null;
  startedAt: number;
}

export interface ActionResult { kind: 'ok' | 'error'; text: string }

export function useModelAction(onDone: () => void) {
  const t = useT();
  const typeLabel = useTypeLabel();
  const errorText = useErrorText();
  const [running, setRunning] = useState<Running | null>(null);
  const [result, setResult] = useState<ActionResult | null>(null);

  async function run(kind: Running['kind'], type: string, version: string | null) {
    setResult(null);
    const startedAt = Date.now();
    setRunning({ kind, type, version, startedAt });
    try {
      const served = kind === 'deploy'
        ? (await graphql<{ deployModel: { version: string } }>('DeployModel', { type, version })).deployModel
        : (await graphql<{ rollbackModel: { version: string } }>('RollbackModel', { type })).rollbackModel;
      const s = Math.max(1, Math.round((Date.now() - startedAt) / 1000));
      setResult({ kind: 'ok', text: t(kind === 'deploy' ? 'ml.deploy.done' : 'ml.rollback.done',
        { type: typeLabel(type), version: served.version, s }) });
    } catch (err) {
      setResult({ kind: 'error', text: t(kind === 'deploy' ? 'ml.deploy.failed' : 'ml.rollback.failed',
        { type: typeLabel(type), version: version ?? '', why: errorText(err) }) });
    } finally {
      setRunning(null);
      onDone();
    }
  }
  return { running, result, run };
}

/** The phase a running deploy or rollback is in, from what Serve reports for its type. */
function phase(running: Running, app: ServeApp | undefined): string {
  if (!app) return 'ml.progress.asking';
  if (app.status === 'DEPLOYING') return 'ml.progress.rolling';
  if (running.version && app.serving === running.version && app.status === 'RUNNING') return 'ml.progress.switched';
  if (app.status === 'UNREACHABLE') return 'ml.progress.unreachable';
  return 'ml.progress.staging';
}

export function ActionProgress({ running, app }: { running: Running; app: ServeApp | undefined }) {
  const t = useT();
  const statusLabel = useStatusLabel();
  const typeLabel = useTypeLabel();
  const heading = useRef<HTMLHeadingElement>(null);
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => { heading.current?.focus(); }, []);
  useEffect(() => {
    const id = window.setInterval(() => setNow(Date.now()), 1000);
    return () => window.clearInterval(id);
  }, []);
  const seconds = Math.max(0, Math.floor((now - running.startedAt) / 1000));
  const title = running.kind === 'deploy'
    ? t('ml.progress.deploying', { type: typeLabel(running.type), version: running.version ?? '' })
    : t('ml.progress.rollingBack', { type: typeLabel(running.type), version: running.version ?? t('ml.progress.previous') });
  return (
    <div className="ml-progress" aria-busy="true">
      <h3 id="ml-progress-title" ref={heading} tabIndex={-1}>{title}</h3>
      <progress aria-labelledby="ml-progress-title" />
      <p role="status">{t(phase(running, app))}</p>
      <p className="hint">
        {t('ml.progress.elapsed', { s: seconds })}
        {app ? <> · {t('ml.progress.serve', { status: statusLabel(app.status), serving: app.serving ?? '–' })}</> : null}
      </p>
    </div>
  );
}
