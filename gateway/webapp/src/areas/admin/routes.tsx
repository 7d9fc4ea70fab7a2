import type { RouteDef } from '../../core/router';
import { peopleRoutes } from './people/routes';
import { opsRoutes } from './ops/routes';

/** The admin area's pages. */
export const routes: RouteDef[] = [...peopleRoutes, ...opsRoutes];
