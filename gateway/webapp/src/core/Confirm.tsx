// An inline confirmation for an action that is hard to undo (lock an account, deploy a model):
// the question and two real buttons, the confirming one focused when it appears so a keyboard
// user lands on it (Enter confirms, Tab reaches Cancel; Escape cancels).

import { type KeyboardEvent, type ReactNode, useId } from 'react';
import { useT } from './i18n';
import './confirm.css';

export function Confirm({ children, confirmLabel, onConfirm, onCancel, kind = 'danger' }: {
  /** The question: what will happen, to what. */
  children: ReactNode;
  confirmLabel: string;
  onConfirm: () => void;
  onCancel: () => void;
  kind?: 'danger' | 'primary';
}) {
  const t = useT();
  const id = useId();
  const onKeyDown = (ev: KeyboardEvent<HTMLDivElement>) => {
    if (ev.key === 'Escape') { ev.preventDefault(); onCancel(); }
  };
  return (
    <div className="confirm" role="group" aria-labelledby={id} onKeyDown={onKeyDown}>
      <div id={id} className="confirm-ask">{children}</div>
      <div className="row">
        <button type="button" className={kind} autoFocus onClick={onConfirm}>{confirmLabel}</button>
        <button type="button" className="secondary" onClick={onCancel}>{t('common.cancel')}</button>
      </div>
    </div>
  );
}
