// English and Russian UI (the seed's users are Russian-speaking). Every area adds its own
// messages (areas/*/messages.ts); a key missing in Russian falls back to English.

import { createContext, type ReactNode, useCallback, useContext, useEffect, useMemo, useState } from 'react';

export type Locale = 'en' | 'ru';
export type Messages = Record<string, string>;
export interface Catalog { en: Messages; ru: Partial<Messages> }

const catalogs: Catalog[] = [];

/** Adds an area's messages (called once per area module, at import). */
export function addMessages(catalog: Catalog): void {
  catalogs.push(catalog);
}

const STORE = 'stride.locale';

function initialLocale(): Locale {
  const saved = localStorage.getItem(STORE);
  if (saved === 'en' || saved === 'ru') return saved;
  return navigator.language.toLowerCase().startsWith('ru') ? 'ru' : 'en';
}

export type Translate = (key: string, vars?: Record<string, string | number>) => string;

interface I18n { locale: Locale; setLocale: (l: Locale) => void; t: Translate }

const I18nContext = createContext<I18n | null>(null);

export function I18nProvider({ children }: { children: ReactNode }) {
  const [locale, setLocaleState] = useState<Locale>(initialLocale);
  useEffect(() => { document.documentElement.lang = locale; }, [locale]);
  const setLocale = useCallback((l: Locale) => {
    localStorage.setItem(STORE, l);
    setLocaleState(l);
  }, []);
  const t = useCallback<Translate>((key, vars) => {
    let text: string | undefined;
    for (const c of catalogs) {
      text = (locale === 'ru' ? c.ru[key] : undefined) ?? c.en[key];
      if (text !== undefined) break;
    }
    if (text === undefined) text = key;
    return vars ? text.replace(/\{(\w+)\}/g, (_, k: string) => String(vars[k] ?? `{${k}}`)) : text;
  }, [locale]);
  const value = useMemo(() => ({ locale, setLocale, t }), [locale, setLocale, t]);
  return <I18nContext.Provider value={value}>{children}</I18nContext.Provider>;
}

export function useI18n(): I18n {
  const ctx = useContext(I18nContext);
  if (!ctx) throw new Error('useI18n outside I18nProvider');
  return ctx;
}

export const useT = (): Translate => useI18n().t;
