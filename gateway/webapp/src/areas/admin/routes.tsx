import type { RouteDef } from '../../core/router';

/** The admin area's pages. */
export const routes: RouteDef[] = [];
