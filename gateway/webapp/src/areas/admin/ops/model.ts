// What the internal GraphQL API says of dead letters and stack health
// (gateway/internal/schema/dead_letters.py and health.py), as the persisted operations select it.

export interface Settlement {
  action: 'REPLAYED' | 'DISCARDED';
  /** The topic a replay sent the record back to; null for a discard. */
  replayedTo: string | null;
  actorId: string;
  at: string;
  note: string;
}

export interface DeadLetter {
  partition: number;
  offset: number;
  at: string;
  source: string;
  error: string;
  eventType: string | null;
  workoutId: string | null;
  userId: string | null;
  sizeBytes: number;
  settlement: Settlement | null;
}

export interface Probe { component: string; ok: boolean; latencyMs: number; detail: string }
export interface TopicLag { topic: string; records: number }
export interface StackHealth {
  checkedAt: string;
  probes: Probe[];
  /** Empty when Kafka did not say. */
  lag: TopicLag[];
  /** Null when Kafka did not say. */
  deadLetters: number | null;
}

/** `partition:offset`, how a record is named on these pages. */
export const position = (d: { partition: number; offset: number }): string => `${d.partition}:${d.offset}`;

export const DEAD_LETTERS_PATH = '/app/admin/dead-letters';
export const HEALTH_PATH = '/app/admin/health';

export const detailPath = (d: { partition: number; offset: number }): string =>
  `${DEAD_LETTERS_PATH}/${d.partition}/${d.offset}`;

/** The message key of a record's status. */
export const statusKey = (s: Settlement | null): string =>
  s === null ? 'ops.dl.status.unsettled' : s.action === 'REPLAYED' ? 'ops.dl.status.replayed' : 'ops.dl.status.discarded';
