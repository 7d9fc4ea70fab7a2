// The admin area's operations pages: dead letters (inspect, replay, discard) and stack health.
// The admin area's routes.tsx spreads them in; they exist on the internal origin only.

import type { RouteDef } from '../../../core/router';
import { DeadLetterPage } from './DeadLetterPage';
import { DeadLettersPage } from './DeadLettersPage';
import { DEAD_LETTERS_PATH, HEALTH_PATH } from './model';
import { StackHealthPage } from './StackHealthPage';
import './messages';
import './ops.css';

const ADMIN = { roles: ['admin'], origin: 'internal' as const };

export const opsRoutes: RouteDef[] = [
  { path: DEAD_LETTERS_PATH, render: () => <DeadLettersPage />, nav: 'ops.nav.deadLetters', ...ADMIN },
  {
    path: `${DEAD_LETTERS_PATH}/:partition/:offset`,
    render: (p) => <DeadLetterPage partition={p.partition} offset={p.offset} />, ...ADMIN,
  },
  { path: HEALTH_PATH, render: () => <StackHealthPage />, nav: 'ops.nav.health', ...ADMIN },
];
