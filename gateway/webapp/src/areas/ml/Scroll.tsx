// A table that may scroll sideways at phone width and holds nothing focusable: its wrapper
// takes focus (and is named), so a keyboard user can scroll it too (WCAG 2.1.1).

import type { ReactNode } from 'react';
import { useT } from '../../core/i18n';

export function Scroll({ label, children }: { label: string; children: ReactNode }) {
  const t = useT();
  return (
    <div className="table-wrap ml-wrap" tabIndex={0} role="region" aria-label={t('ml.table', { what: label })}>
      {children}
    </div>
  );
}
