// A paged list's states around its table: loading, the error (announced), nothing found, the
// rows, how many are shown (announced politely, so a filter's result is heard), Show more.

import type { ReactNode } from 'react';
import type { PagedQuery } from './graphqlPaged';
import { useT } from './i18n';
import './listMessages';
import { Alert, useErrorText } from './ui';

export function PagedList<T>({ paged, empty, children, errorText }: {
  paged: PagedQuery<T>;
  /** What "nothing found" says here. */
  empty: string;
  children: (items: T[]) => ReactNode;
  /** How this list's errors read (default: the API's message). */
  errorText?: (err: unknown) => string;
}) {
  const t = useT();
  const generic = useErrorText();
  const { items, error, loading, more } = paged;
  const count = items === null ? '' : items.length === 0 ? empty
    : t(more ? 'list.shownMore' : 'list.shown', { n: items.length });
  return (
    <>
      {error ? <Alert>{(errorText ?? generic)(error)}</Alert> : null}
      <p role="status" className="hint">{loading ? t('common.loading') : count}</p>
      {items !== null && items.length > 0 ? children(items) : null}
      {more ? (
        <button type="button" className="secondary" onClick={paged.loadMore} disabled={loading}>
          {t('common.more')}</button>
      ) : null}
    </>
  );
}
