// How a workout is named and measured for people: its title, or its sport and day; speed
// (km/h) for the sports people time by speed, pace (min/km) for the others.

import type { Translate } from '../../../core/i18n';
import type { Workout } from './model';

const SPEED_SPORTS = new Set(['ride', 'ski', 'row']);

export const sportName = (t: Translate, sport: string): string => t(`athlete.sport.${sport}`);

export const isSpeedSport = (sport: string): boolean => SPEED_SPORTS.has(sport);

/** The athlete's title, or "Run on 3 Mar 2026". */
export function titleOf(w: Pick<Workout, 'title' | 'sport' | 'started_at'>, t: Translate, locale: string): string {
  if (w.title) return w.title;
  const day = new Date(w.started_at).toLocaleDateString(locale, { dateStyle: 'medium' });
  return t('athlete.workout.untitled', { sport: sportName(t, w.sport), day });
}
