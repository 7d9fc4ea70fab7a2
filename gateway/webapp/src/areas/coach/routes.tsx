import { lazy, type ReactNode, Suspense } from 'react';
import { useT } from '../../core/i18n';
import type { RouteDef } from '../../core/router';
import './messages';
import './coach.css';

// The pages load with the area's own chunk, not with the app's first load.
const GroupChooser = lazy(() => import('./GroupChooser').then((m) => ({ default: m.GroupChooser })));
const LiveGroup = lazy(() => import('./LiveGroup').then((m) => ({ default: m.LiveGroup })));
const Athletes = lazy(() => import('./Athletes').then((m) => ({ default: m.Athletes })));
const AthleteHistory = lazy(() => import('./AthleteHistory').then((m) => ({ default: m.AthleteHistory })));
const WorkoutSummary = lazy(() => import('./WorkoutSummary').then((m) => ({ default: m.WorkoutSummary })));

function Loading() {
  const t = useT();
  return <p role="status" className="hint">{t('common.loading')}</p>;
}

const area = (page: ReactNode) => <Suspense fallback={<Loading />}>{page}</Suspense>;
const COACH = ['coach'];

/** The coach area's pages: a group's athletes live, and their history where consent allows. */
export const routes: RouteDef[] = [
  { path: '/app/coach', nav: 'coach.nav.live', roles: COACH, render: () => area(<GroupChooser />) },
  { path: '/app/coach/groups/:id', roles: COACH, render: (p) => area(<LiveGroup key={p.id} id={p.id} />) },
  { path: '/app/coach/athletes', nav: 'coach.nav.athletes', roles: COACH, render: () => area(<Athletes />) },
  { path: '/app/coach/athletes/:id', roles: COACH,
    render: (p) => area(<AthleteHistory key={p.id} id={p.id} />) },
  { path: '/app/coach/athletes/:id/workouts/:workoutId', roles: COACH,
    render: (p) => area(<WorkoutSummary key={p.workoutId} athleteId={p.id} workoutId={p.workoutId} />) },
];
