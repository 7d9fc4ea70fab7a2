import { useEffect, useLayoutEffect, useRef, useState } from 'react';
import { useI18n } from '../../core/i18n';
import { Link } from '../../core/router';
import { useSession } from '../../core/session';
import { Alert, LoadState, Page, useLoad } from '../../core/ui';
import { coachedGroups } from './data';
import { LiveBoard } from './live/board';
import type { FeedState } from '../../core/liveFeed';
import type { Words } from './words';

/** How each state of the feed reads at a glance (its words say it too). */
const CONN_KIND: Record<FeedState['kind'], 'ok' | 'wait' | 'bad'> = {
  connecting: 'wait', live: 'ok', 'catching-up': 'wait', waiting: 'bad', ended: 'bad',
};

const need = <T,>(v: T | null): T => {
  if (v === null) throw new Error('the live view rendered without its elements');
  return v;
};

/**
 * `/app/coach/groups/:id`: a group's athletes live. React renders the frame once (title,
 * the tile list, the detail panel, the alert list) and the rare changes (connection state,
 * access ended); the live board (live/board.ts) writes into the elements left empty here —
 * tiles, counts, detail text and charts, alerts — at most once per animation frame.
 */
export function LiveGroup({ id }: { id: string }) {
  const { t, locale } = useI18n();
  const { signOut } = useSession();
  const groups = useLoad(coachedGroups, []);
  const group = groups.data?.find((g) => g.id === id) ?? null;
  const groupId = group?.id ?? null;
  const [conn, setConn] = useState<FeedState | null>(null);
  const [ended, setEnded] = useState<string | null>(null);   // '' : ended, no reason given
  const words = useRef<Words>({ t, locale });
  const board = useRef<LiveBoard | null>(null);
  const refs = {
    tiles: useRef<HTMLUListElement>(null), counts: useRef<HTMLParagraphElement>(null),
    noAthletes: useRef<HTMLParagraphElement>(null), alerts: useRef<HTMLOListElement>(null),
    noAlerts: useRef<HTMLParagraphElement>(null), panel: useRef<HTMLElement>(null),
    title: useRef<HTMLHeadingElement>(null), summary: useRef<HTMLParagraphElement>(null),
    route: useRef<SVGSVGElement>(null), routeCap: useRef<HTMLElement>(null),
    hrChart: useRef<SVGSVGElement>(null), hrCap: useRef<HTMLElement>(null),
  };

  useLayoutEffect(() => {   // the board reads the words at each write
    words.current = { t, locale };
    board.current?.relabel();
  }, [t, locale]);

  useEffect(() => {
    if (!groupId) return undefined;
    const live = new LiveBoard({
      tiles: need(refs.tiles.current), counts: need(refs.counts.current),
      noAthletes: need(refs.noAthletes.current), alerts: need(refs.alerts.current),
      noAlerts: need(refs.noAlerts.current),
      detail: {
        panel: need(refs.panel.current), title: need(refs.title.current), summary: need(refs.summary.current),
        route: need(refs.route.current), routeCap: need(refs.routeCap.current),
        hrChart: need(refs.hrChart.current), hrCap: need(refs.hrCap.current),
      },
    }, {
      groupId,
      words: () => words.current,
      onStatus: setConn,
      onAccessEnded: (reason) => setEnded(reason ?? ''),
      onSessionEnded: () => { void signOut('session.ended'); },
    });
    board.current = live;
    live.start();
    return () => {
      live.stop();
      if (board.current === live) board.current = null;
    };
    // The elements are rendered once with the group; refs are stable.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [groupId, signOut]);

  if (!group) {
    return (
      <Page title={t('coach.live.title')}>
        {groups.data ? <Alert>{t('coach.live.notCoached')}</Alert> : <LoadState loaded={groups}>{() => null}</LoadState>}
        <p><Link to="/app/coach">{t('coach.live.change')}</Link></p>
      </Page>
    );
  }
  const connText = conn === null ? '' : conn.kind === 'waiting' ? t('coach.conn.retry', { s: conn.retryInS })
    : t(`coach.conn.${conn.kind}`);
  return (
    <Page title={group.name} actions={<Link to="/app/coach" className="button">{t('coach.live.change')}</Link>}>
      <div className="coach-live">
        <div className="coach-live-head">
          <p id="counts" className="counts" ref={refs.counts} />
          <p id="conn" className="coach-conn" role="status" data-kind={conn === null ? '' : CONN_KIND[conn.kind]}>{connText}</p>
        </div>
        {ended !== null ? (
          <div id="ended">
            <Alert>{ended ? t('coach.live.refused', { reason: ended }) : t('coach.live.ended')}</Alert>
          </div>
        ) : null}
        <div className="dash">
          <section className="tiles-area" aria-labelledby="athletes-title">
            <h2 id="athletes-title" className="visually-hidden">{t('coach.live.athletes')}</h2>
            <p id="no-athletes" className="hint" hidden ref={refs.noAthletes}>{t('coach.live.noAthletes')}</p>
            <ul id="tiles" className="tiles" ref={refs.tiles} />
          </section>
          <aside className="side">
            <section id="detail" className="card detail" aria-labelledby="detail-title" hidden ref={refs.panel}>
              <div className="detail-head">
                <h2 id="detail-title" tabIndex={-1} ref={refs.title} />
                <button type="button" className="link-button" onClick={() => board.current?.closeDetail(true)}>
                  {t('coach.live.close')}<span className="visually-hidden">{t('coach.live.closeWhat')}</span>
                </button>
              </div>
              <p id="detail-summary" className="detail-summary" ref={refs.summary} />
              <figure className="chart">
                <svg id="route" viewBox="0 0 400 260" role="img" aria-labelledby="route-cap" ref={refs.route} />
                <figcaption id="route-cap" ref={refs.routeCap} />
              </figure>
              <figure className="chart">
                <svg id="hr-chart" viewBox="0 0 400 180" role="img" aria-labelledby="hr-cap" ref={refs.hrChart} />
                <figcaption id="hr-cap" ref={refs.hrCap} />
              </figure>
            </section>
            <section className="card alerts" aria-labelledby="alerts-title">
              <h2 id="alerts-title">{t('coach.live.alerts')}</h2>
              <p id="no-alerts" className="hint" ref={refs.noAlerts}>{t('coach.live.noAlerts')}</p>
              <ol id="alerts" className="alert-list" aria-live="polite" aria-relevant="additions" ref={refs.alerts} />
            </section>
          </aside>
        </div>
      </div>
    </Page>
  );
}
