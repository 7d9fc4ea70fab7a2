import { lazy, type ReactNode, Suspense } from 'react';
import { useT } from '../../../core/i18n';
import type { RouteDef } from '../../../core/router';
import './navMessages';
import './people.css';

// The pages load with their own chunk, not with the app's first load (they exist on the
// internal origin only).
const UsersPage = lazy(() => import('./UsersPage').then((m) => ({ default: m.UsersPage })));
const UserPage = lazy(() => import('./UserPage').then((m) => ({ default: m.UserPage })));
const GroupsPage = lazy(() => import('./GroupsPage').then((m) => ({ default: m.GroupsPage })));
const GroupPage = lazy(() => import('./GroupPage').then((m) => ({ default: m.GroupPage })));
const ConsentJournalPage = lazy(() => import('./ConsentJournalPage').then((m) => ({ default: m.ConsentJournalPage })));
const AuditLogPage = lazy(() => import('./AuditLogPage').then((m) => ({ default: m.AuditLogPage })));

function Loading() {
  const t = useT();
  return <p role="status" className="hint">{t('common.loading')}</p>;
}

const page = (p: ReactNode) => <Suspense fallback={<Loading />}>{p}</Suspense>;
const ADMIN = ['admin'];
const on = { roles: ADMIN, origin: 'internal' as const };

/** People in the admin area: accounts (roles, sessions, lock), groups and their members,
 *  the consent journal and the audit log of every admin action. */
export const peopleRoutes: RouteDef[] = [
  { path: '/app/admin/users', nav: 'admin.nav.users', ...on, render: () => page(<UsersPage />) },
  { path: '/app/admin/users/:id', ...on, render: (p) => page(<UserPage key={p.id} id={p.id} />) },
  { path: '/app/admin/groups', nav: 'admin.nav.groups', ...on, render: () => page(<GroupsPage />) },
  { path: '/app/admin/groups/:id', ...on, render: (p) => page(<GroupPage key={p.id} id={p.id} />) },
  { path: '/app/admin/consents', nav: 'admin.nav.consents', ...on, render: () => page(<ConsentJournalPage />) },
  { path: '/app/admin/audit', nav: 'admin.nav.audit', ...on, render: () => page(<AuditLogPage />) },
];
