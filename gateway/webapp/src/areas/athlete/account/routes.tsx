import type { RouteDef } from '../../../core/router';
import './account.css';
import './messages';
import { ConsentsPage } from './ConsentsPage';
import { DevicesPage } from './DevicesPage';
import { GroupsPage } from './GroupsPage';
import { MfaPage } from './MfaPage';
import { PrivacyPage } from './PrivacyPage';
import { ProfilePage } from './ProfilePage';
import { SecurityPage } from './SecurityPage';
import { SessionsPage } from './SessionsPage';

/** The athlete's account: profile, privacy, password and e-mail, second factor, device
 *  tokens, sessions — and groups and consents. Every signed-in user of the public origin. */
export const accountRoutes: RouteDef[] = [
  { path: '/app/account', nav: 'account.nav.account', render: () => <ProfilePage /> },
  { path: '/app/account/privacy', render: () => <PrivacyPage /> },
  { path: '/app/account/security', render: () => <SecurityPage /> },
  { path: '/app/account/mfa', render: () => <MfaPage /> },
  { path: '/app/account/devices', render: () => <DevicesPage /> },
  { path: '/app/account/sessions', render: () => <SessionsPage /> },
  { path: '/app/groups', nav: 'account.nav.groups', render: () => <GroupsPage /> },
  { path: '/app/consents', nav: 'account.nav.consents', render: () => <ConsentsPage /> },
];
