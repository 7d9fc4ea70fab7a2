// How the coach area's imperative code (live/) and its pages say things: the current
// translation and locale, read at each write so a change of language needs no restart.

import type { Locale, Translate } from '../../core/i18n';

export interface Words {
  t: Translate;
  locale: Locale;
}

/** `<base>.one|few|many|other` by the locale's plural rules (Russian has three forms). */
export function plural(w: Words, base: string, n: number): string {
  const key = `${base}.${new Intl.PluralRules(w.locale).select(n)}`;
  const text = w.t(key, { n });
  return text === key ? w.t(`${base}.other`, { n }) : text;
}

/** A sport's name in the user's language (the API's own word if it is new to the page). */
export function sportName(t: Translate, sport: string | null | undefined): string {
  if (!sport) return '';
  const key = `coach.sport.${sport}`;
  const text = t(key);
  return text === key ? sport : text;
}

export const timeOfDay = (ms: number, locale: Locale): string =>
  new Date(ms).toLocaleTimeString(locale, { hour12: false });
