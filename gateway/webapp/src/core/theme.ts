// Light and dark themes: the system's choice unless the user picked one (kept per browser).

import { useEffect, useState } from 'react';

export type Theme = 'system' | 'light' | 'dark';
const STORE = 'stride.theme';

export function useTheme(): [Theme, (t: Theme) => void] {
  const [theme, setTheme] = useState<Theme>(() => {
    const saved = localStorage.getItem(STORE);
    return saved === 'light' || saved === 'dark' ? saved : 'system';
  });
  useEffect(() => {
    const root = document.documentElement;
    if (theme === 'system') {
      root.removeAttribute('data-theme');
      localStorage.removeItem(STORE);
    } else {
      root.dataset.theme = theme;
      localStorage.setItem(STORE, theme);
    }
  }, [theme]);
  return [theme, setTheme];
}
