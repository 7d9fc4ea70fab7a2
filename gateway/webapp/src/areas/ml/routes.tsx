import type { RouteDef } from '../../core/router';

/** The ml area's pages. */
export const routes: RouteDef[] = [];
