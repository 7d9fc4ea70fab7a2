import type { RouteDef } from '../../core/router';

/** The athlete area's pages. */
export const routes: RouteDef[] = [];
