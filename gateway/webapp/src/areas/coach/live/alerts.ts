// The risk alerts of a live view, newest first, each workout and level listed once: items
// added to the list React rendered, as text only (nothing received is parsed as HTML).

import { timeOfDay, type Words } from '../words';
import { RISK_RANK, type RiskLevel } from './tiles';

const MAX_ALERTS = 200;

export interface AlertEntry {
  athleteId: string;
  name: string;
  workoutId: string;
  level: RiskLevel;
  reasons: string[];
  atMs: number;
}

export class AlertList {
  private readonly keys = new Set<string>();
  private entries: AlertEntry[] = [];

  constructor(private readonly list: HTMLOListElement, private readonly none: HTMLElement,
    private readonly words: () => Words) {}

  /** Adds an alert unless its workout already has one of this level (low ones are no alert). */
  add(entry: AlertEntry): void {
    if (RISK_RANK[entry.level] === 0) return;
    const key = `${entry.workoutId}:${entry.level}`;
    if (this.keys.has(key)) return;
    this.keys.add(key);
    this.entries.unshift(entry);
    this.list.prepend(this.item(entry));
    if (this.entries.length > MAX_ALERTS) {
      this.entries.length = MAX_ALERTS;
      while (this.list.childElementCount > MAX_ALERTS) this.list.lastElementChild?.remove();
    }
    this.none.hidden = true;
  }

  clear(): void {
    this.keys.clear();
    this.entries = [];
    this.list.replaceChildren();
    this.none.hidden = false;
  }

  /** The language changed: the items again, in the new one. */
  relabel(): void {
    this.list.replaceChildren(...this.entries.map((e) => this.item(e)));
  }

  private item(e: AlertEntry): HTMLLIElement {
    const w = this.words();
    const make = <K extends keyof HTMLElementTagNameMap>(tag: K, className: string, text?: string) => {
      const node = document.createElement(tag);
      if (className) node.className = className;
      if (text !== undefined) node.textContent = text;
      return node;
    };
    const li = make('li', 'alert-item');
    li.dataset.level = e.level;
    li.dataset.athleteId = e.athleteId;
    const badge = make('span', 'risk-badge', w.t(`coach.risk.${e.level}`));
    badge.dataset.level = e.level;
    const when = make('time', '', timeOfDay(e.atMs, w.locale));
    when.dateTime = new Date(e.atMs).toISOString();
    const head = make('p', 'alert-head');
    head.append(badge, make('strong', '', ` ${e.name} `), when);
    const why = (e.reasons.length ? e.reasons : [w.t('coach.alert.noReason')]).join('; ');
    li.append(head, make('p', 'alert-reasons', why));
    return li;
  }
}
