// What the coach area reads from the REST API: the groups you coach, their athletes, an
// athlete's workouts (where a consent covers them: the API answers 404 where none does).

import { ApiError, apiPage } from '../../core/api';
import type { Workout as CoreWorkout } from '../../core/workout';

export interface Group {
  id: string;
  name: string;
  sport: string;
  role: string;
  joined_at: string;
}

export interface Member {
  user_id: string;
  role: string;
  joined_at: string;
  /** Null for an athlete who has not consented to the group. */
  name: string | null;
  consents: ('live' | 'history')[];
}

/** A workout (core/workout.ts) with the per-km splits the coach's summary shows. */
export type Workout = CoreWorkout & {
  splits: { km: number; time_s: number; avg_hr: number | null }[];
};

const MAX_PAGES = 20;

/** Every item of a cursor-paged list (at most MAX_PAGES pages). */
async function all<T>(path: string): Promise<T[]> {
  const items: T[] = [];
  let next: string | null = null;
  for (let page = 0; page < MAX_PAGES; page += 1) {
    const sep = path.includes('?') ? '&' : '?';
    const got: { items: T[]; next: string | null } = await apiPage<T>(
      next ? `${path}${sep}cursor=${encodeURIComponent(next)}` : path);
    items.push(...got.items);
    next = got.next;
    if (!next) break;
  }
  return items;
}

export async function coachedGroups(): Promise<Group[]> {
  return (await all<Group>('/v1/groups?limit=200')).filter((g) => g.role === 'coach');
}

export interface GroupAthletes { group: Group; athletes: Member[] }

/** Each group you coach with its athletes. */
export async function coachedAthletes(): Promise<GroupAthletes[]> {
  const groups = await coachedGroups();
  return Promise.all(groups.map(async (group) => ({
    group,
    athletes: (await all<Member>(`/v1/groups/${encodeURIComponent(group.id)}/members?limit=200`))
      .filter((m) => m.role === 'athlete'),
  })));
}

/** How the coach area names an athlete: the name the API gave, or a short id. */
export const athleteLabel = (m: { user_id: string; name: string | null } | undefined, id: string,
  unnamed: (short: string) => string): string => m?.name || unnamed(id.slice(0, 8));

/** Whether the API refused because no consent covers the athlete's data (it answers 404,
 *  exactly as for what does not exist). */
export const noAccess = (err: unknown): boolean => err instanceof ApiError && err.status === 404;
