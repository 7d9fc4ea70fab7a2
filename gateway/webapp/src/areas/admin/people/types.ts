// What the admin pages get from the internal GraphQL API (gateway/internal/schema/, the
// persisted operations in gateway/internal/persisted_queries.graphql). No health data.

export interface User {
  id: string;
  email: string;
  firstName: string | null;
  lastName: string | null;
  country: string | null;
  city: string | null;
  roles: string[];
  createdAt: string;
  lockedAt: string | null;
  mfa: boolean;
}

export interface Session {
  id: string;
  userId: string;
  audience: string;
  mfaVerified: boolean;
  createdAt: string;
  lastSeenAt: string;
  expiresAt: string;
}

export interface Group {
  id: string;
  name: string;
  sport: string;
  createdAt: string;
  createdBy: string | null;
  athletes: number;
  coaches: number;
}

export interface Member { userId: string; role: string; joinedAt: string; email: string | null }

export interface JournalEntry {
  id: string;
  at: string;
  actorId: string | null;
  athleteId: string;
  consentId: string | null;
  groupId: string | null;
  action: string;
  scope: string;
  purpose: string;
  policyVersion: string;
}

export interface AuditEntry {
  id: string;
  at: string;
  actorId: string;
  action: string;
  target: string;
  detail: unknown;
  address: string;
  outcome: string;
}

/** The roles an account can hold (the GraphQL enum `Role` is their upper case). */
export const ROLES = ['athlete', 'coach', 'admin', 'partner', 'ml_engineer'] as const;

/** The mutations the audit log records, to filter by (gateway/internal/schema/). */
export const AUDITED_ACTIONS = [
  'grantRole', 'revokeRole', 'revokeSession', 'lockUser', 'unlockUser', 'addGroupMember',
  'removeGroupMember', 'deployModel', 'rollbackModel', 'replayDeadLetter', 'discardDeadLetter',
] as const;

export const fullName = (u: { firstName: string | null; lastName: string | null }): string =>
  [u.firstName, u.lastName].filter(Boolean).join(' ');
