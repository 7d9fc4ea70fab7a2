import type { RouteDef } from '../../core/router';
import { workoutRoutes } from './workouts/routes';
import { accountRoutes } from './account/routes';

/** The athlete area's pages. */
export const routes: RouteDef[] = [...workoutRoutes, ...accountRoutes];
