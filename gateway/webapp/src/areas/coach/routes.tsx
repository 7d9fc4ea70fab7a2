import type { RouteDef } from '../../core/router';

/** The coach area's pages. */
export const routes: RouteDef[] = [];
