import type { ReactNode } from 'react';

/** A table that may scroll sideways at phone width: the scrolling box is a named region that
 *  takes focus, so keyboard users can scroll it too (axe: scrollable-region-focusable). */
export function TableWrap({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div className="table-wrap ops-table-wrap" role="region" aria-label={label} tabIndex={0}>
      {children}
    </div>
  );
}
