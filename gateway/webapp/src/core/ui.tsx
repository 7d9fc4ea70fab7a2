// The building blocks every page uses, accessible by construction: a page with one focused
// h1, labelled fields whose errors are announced, alerts, and data loading with its states.

import { type ComponentProps, type DependencyList, type ReactNode, useCallback, useEffect, useId, useRef, useState } from 'react';
import { ApiError } from './api';
import { useT } from './i18n';

/** A page: its title (the document's too) in an h1 that takes focus when the page opens,
 *  so keyboard and screen-reader users start at the new content. */
export function Page({ title, actions, children }: { title: string; actions?: ReactNode; children: ReactNode }) {
  const h1 = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    document.title = `${title} — Stride`;
  }, [title]);
  useEffect(() => { h1.current?.focus({ preventScroll: true }); }, []);
  return (
    <section className="page" aria-labelledby="page-title">
      <div className="page-head">
        <h1 id="page-title" ref={h1} tabIndex={-1}>{title}</h1>
        {actions ? <div className="page-actions">{actions}</div> : null}
      </div>
      {children}
    </section>
  );
}

export function Card({ title, children, className }: { title?: string; children: ReactNode; className?: string }) {
  const id = useId();
  return (
    <section className={`card ${className ?? ''}`} aria-labelledby={title ? id : undefined}>
      {title ? <h2 id={id}>{title}</h2> : null}
      {children}
    </section>
  );
}

type FieldProps = ComponentProps<'input'> & { label: string; hint?: string; error?: string | null };

/** A labelled input; its hint and error are tied to it with aria-describedby. */
export function Field({ label, hint, error, id, ...input }: FieldProps) {
  const auto = useId();
  const fieldId = id ?? auto;
  const described = [hint ? `${fieldId}-hint` : '', error ? `${fieldId}-error` : ''].filter(Boolean).join(' ');
  return (
    <div className="field">
      <label htmlFor={fieldId}>{label}</label>
      {hint ? <p id={`${fieldId}-hint`} className="hint">{hint}</p> : null}
      <input id={fieldId} aria-invalid={error ? true : undefined} aria-describedby={described || undefined} {...input} />
      {error ? <p id={`${fieldId}-error`} className="error">{error}</p> : null}
    </div>
  );
}

export function Select({ label, value, onChange, options, id }: {
  label: string; value: string; onChange: (v: string) => void; options: [string, string][]; id?: string;
}) {
  const auto = useId();
  const fieldId = id ?? auto;
  return (
    <div className="field">
      <label htmlFor={fieldId}>{label}</label>
      <select id={fieldId} value={value} onChange={(e) => onChange(e.target.value)}>
        {options.map(([v, text]) => <option key={v} value={v}>{text}</option>)}
      </select>
    </div>
  );
}

/** An error or a success message, announced when it appears. */
export function Alert({ kind = 'error', children }: { kind?: 'error' | 'ok' | 'info'; children: ReactNode }) {
  if (children === null || children === undefined || children === '') return null;
  return <p className={`alert alert-${kind}`} role={kind === 'error' ? 'alert' : 'status'}>{children}</p>;
}

/** The message of an error for people: the API's own message, or a generic one. */
export function useErrorText(): (err: unknown) => string {
  const t = useT();
  return useCallback((err: unknown) => {
    if (err instanceof ApiError) {
      if (err.status === 429) return t('error.tooMany', { s: err.retryAfter ?? '…' });
      return err.message;
    }
    return t('error.network');
  }, [t]);
}

export interface Loaded<T> { data: T | null; error: unknown; loading: boolean; reload: () => void }

/** Loads `fetcher()` when the page opens and whenever `deps` change. */
export function useLoad<T>(fetcher: () => Promise<T>, deps: DependencyList): Loaded<T> {
  const [state, setState] = useState<{ data: T | null; error: unknown; loading: boolean }>(
    { data: null, error: null, loading: true });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true, error: null }));
    fetcher().then(
      (data) => { if (live) setState({ data, error: null, loading: false }); },
      (error: unknown) => { if (live) setState({ data: null, error, loading: false }); },
    );
    return () => { live = false; };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((n) => n + 1), []);
  return { ...state, reload };
}

/** What a loading list shows: a status while loading, the error, or the content. */
export function LoadState<T>({ loaded, children }: { loaded: Loaded<T>; children: (data: T) => ReactNode }) {
  const t = useT();
  const errorText = useErrorText();
  if (loaded.error) return <Alert>{errorText(loaded.error)}</Alert>;
  if (loaded.data === null) return <p role="status" className="hint">{t('common.loading')}</p>;
  return <>{children(loaded.data)}</>;
}
