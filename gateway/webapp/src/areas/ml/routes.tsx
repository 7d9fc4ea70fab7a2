import { lazy, type ReactNode, Suspense } from 'react';
import { useT } from '../../core/i18n';
import type { RouteDef } from '../../core/router';
import './navMessages';
import './ml.css';

// The pages load with their own chunk, not with the app's first load (they exist on the
// internal origin only).
const ModelsPage = lazy(() => import('./ModelsPage').then((m) => ({ default: m.ModelsPage })));
const ModelPage = lazy(() => import('./ModelPage').then((m) => ({ default: m.ModelPage })));
const InferenceLogPage = lazy(() => import('./InferenceLogPage').then((m) => ({ default: m.InferenceLogPage })));

function Loading() {
  const t = useT();
  return <p role="status" className="hint">{t('common.loading')}</p>;
}

const page = (p: ReactNode) => <Suspense fallback={<Loading />}>{p}</Suspense>;
/** As the API allows (gateway/internal/permissions.py MlEngineer): ML engineers and admins. */
const on = { roles: ['ml_engineer', 'admin'], origin: 'internal' as const };

/** The ML area: models (versions, metrics, deploy, rollback, Ray Serve now) and the
 *  inference log. */
export const routes: RouteDef[] = [
  { path: '/app/ml/models', nav: 'ml.nav.models', ...on, render: () => page(<ModelsPage />) },
  { path: '/app/ml/models/:type/:version', ...on,
    render: (p) => page(<ModelPage key={`${p.type}/${p.version}`} type={p.type} version={p.version} />) },
  { path: '/app/ml/inference', nav: 'ml.nav.inference', ...on, render: () => page(<InferenceLogPage />) },
];
