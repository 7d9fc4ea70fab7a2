// The athlete's workout pages; areas/athlete/routes.tsx spreads them into the area's list.
// The pages load as a chunk of their own, not with the app's first load. Not through
// React.lazy: a Suspense boundary that showed its fallback reveals the page no sooner than
// 300 ms later (React 19 batches reveals), which was most of the time a workout page took
// to open; here the page shows as soon as its chunk has arrived.

import { type ComponentType, useEffect, useState } from 'react';
import { useT } from '../../../core/i18n';
import type { RouteDef } from '../../../core/router';
import { Alert } from '../../../core/ui';
import './messages';
import './workouts.css';

function deferred<P extends object>(load: () => Promise<ComponentType<P>>): ComponentType<P> {
  let loaded: ComponentType<P> | null = null;
  let pending: Promise<void> | null = null;
  const fetchOnce = () => (pending ??= load().then((c) => { loaded = c; }, (err: unknown) => { pending = null; throw err; }));
  return function Deferred(props: P) {
    const t = useT();
    const [state, setState] = useState<'wait' | 'ready' | 'failed'>(loaded ? 'ready' : 'wait');
    useEffect(() => {
      let live = true;
      if (!loaded) fetchOnce().then(() => { if (live) setState('ready'); }, () => { if (live) setState('failed'); });
      return () => { live = false; };
    }, []);
    if (loaded) {
      const Page = loaded;
      return <Page {...props} />;
    }
    return state === 'failed' ? <Alert>{t('error.network')}</Alert> : <p role="status" className="hint">{t('common.loading')}</p>;
  };
}

const WorkoutsPage = deferred(() => import('./WorkoutsPage').then((m) => m.WorkoutsPage));
const WorkoutPage = deferred(() => import('./WorkoutPage').then((m) => m.WorkoutPage));
const LivePage = deferred(() => import('./LivePage').then((m) => m.LivePage));
const ATHLETE = ['athlete'];

export const workoutRoutes: RouteDef[] = [
  { path: '/app/workouts', nav: 'athlete.nav.workouts', roles: ATHLETE, render: () => <WorkoutsPage /> },
  { path: '/app/workouts/:id', roles: ATHLETE, render: ({ id }) => <WorkoutPage key={id} id={id} /> },
  { path: '/app/live', nav: 'athlete.nav.live', roles: ATHLETE, render: () => <LivePage /> },
];
