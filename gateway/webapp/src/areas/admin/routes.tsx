import type { RouteDef } from '../../core/router';
import { opsRoutes } from './ops/routes';

/** The admin area's pages. */
export const routes: RouteDef[] = [...opsRoutes];
