// The athlete's workout pages; areas/athlete/routes.tsx spreads them into the area's list.
// The pages load as a chunk of their own, not with the app's first load.

import { lazy, type ReactNode, Suspense } from 'react';
import { useT } from '../../../core/i18n';
import type { RouteDef } from '../../../core/router';
import './messages';
import './workouts.css';

const WorkoutsPage = lazy(() => import('./WorkoutsPage').then((m) => ({ default: m.WorkoutsPage })));
const WorkoutPage = lazy(() => import('./WorkoutPage').then((m) => ({ default: m.WorkoutPage })));
const LivePage = lazy(() => import('./LivePage').then((m) => ({ default: m.LivePage })));

function Loading() {
  const t = useT();
  return <p role="status" className="hint">{t('common.loading')}</p>;
}

const page = (content: ReactNode) => <Suspense fallback={<Loading />}>{content}</Suspense>;
const ATHLETE = ['athlete'];

export const workoutRoutes: RouteDef[] = [
  { path: '/app/workouts', nav: 'athlete.nav.workouts', roles: ATHLETE, render: () => page(<WorkoutsPage />) },
  { path: '/app/workouts/:id', roles: ATHLETE, render: ({ id }) => page(<WorkoutPage key={id} id={id} />) },
  { path: '/app/live', nav: 'athlete.nav.live', roles: ATHLETE, render: () => page(<LivePage />) },
];
