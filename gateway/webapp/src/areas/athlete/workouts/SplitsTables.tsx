// A workout kilometre by kilometre, and its time in heart-rate zones: tables (with <th>),
// the zones with a bar each for the eye (the table says the same in numbers).

import { useT } from '../../../core/i18n';
import { clock, fmtDistance, fmtDuration, fmtInt, fmtPace, fmtSpeed, num } from '../../../core/format';
import type { SplitRow } from './model';

export function SplitsTable({ rows, speedSport }: { rows: SplitRow[]; speedSport: boolean }) {
  const t = useT();
  if (!rows.length) return <p className="hint">{t('athlete.splits.none')}</p>;
  // The fastest whole kilometre, when one was faster than the others by a second or more.
  const paces = rows.filter((r) => r.distance_m >= 999 && num(r.pace_s_per_km) !== null)
    .map((r) => r.pace_s_per_km as number).sort((a, b) => a - b);
  const fastest = paces.length > 1 && paces[1] - paces[0] >= 1 ? paces[0] : null;
  return (
    <div className="table-wrap" tabIndex={0} role="region" aria-label={t('athlete.workout.splits')}>
      <table className="splits">
        <caption className="visually-hidden">{t('athlete.workout.splits')}</caption>
        <thead>
          <tr>
            <th scope="col">{t('athlete.splits.km')}</th>
            <th scope="col" className="num">{t('athlete.splits.time')}</th>
            <th scope="col" className="num">{speedSport ? t('athlete.splits.speed') : t('athlete.splits.pace')}</th>
            <th scope="col" className="num">{t('athlete.splits.elev')}</th>
            <th scope="col" className="num">{t('athlete.splits.hr')}</th>
            <th scope="col" className="num">{t('athlete.splits.elapsed')}</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.km}>
              <th scope="row">
                {r.distance_m < 999 ? `${r.km} (${fmtDistance(r.distance_m)})` : r.km}
                {fastest !== null && r.pace_s_per_km === fastest ? <> <span className="badge">{t('athlete.splits.fastest')}</span></> : null}
              </th>
              <td className="num">{fmtDuration(r.time_s)}</td>
              <td className="num">{speedSport ? fmtSpeed(r.time_s > 0 ? r.distance_m / r.time_s : null) : fmtPace(r.pace_s_per_km)}</td>
              <td className="num">+{fmtInt(r.elevation_gain_m)} / −{fmtInt(r.elevation_loss_m)} m</td>
              <td className="num">{fmtInt(r.avg_hr, ' bpm')}</td>
              <td className="num">{clock(r.elapsed_s)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function ZonesTable({ zones }: { zones: number[] | null }) {
  const t = useT();
  if (!zones || zones.length === 0) return <p className="hint">{t('athlete.zones.none')}</p>;
  const total = zones.reduce((a, b) => a + b, 0);
  if (total <= 0) return <p className="hint">{t('athlete.zones.none')}</p>;
  return (
    <div className="table-wrap" tabIndex={0} role="region" aria-label={t('athlete.workout.zones')}>
      <table className="zones">
        <caption className="visually-hidden">{t('athlete.workout.zones')}</caption>
        <thead>
          <tr>
            <th scope="col">{t('athlete.zones.zone')}</th>
            <th scope="col" className="num">{t('athlete.zones.time')}</th>
            <th scope="col" className="num">{t('athlete.zones.share')}</th>
            <th scope="col"><span className="visually-hidden">{t('athlete.zones.bar')}</span></th>
          </tr>
        </thead>
        <tbody>
          {zones.map((s, i) => {
            const share = s / total;
            return (
              <tr key={i}>
                <th scope="row">{t('athlete.zones.name', { n: i + 1 })}</th>
                <td className="num">{clock(s)}</td>
                <td className="num">{Math.round(share * 100)} %</td>
                <td className="zone-bar-cell">
                  <svg className="zone-bar" viewBox="0 0 100 10" preserveAspectRatio="none" aria-hidden="true" focusable="false">
                    <rect className="zone-bar-track" x="0" y="0" width="100" height="10" />
                    <rect className={`zone-bar-fill zone-${i + 1}`} x="0" y="0" width={Math.max(0.5, share * 100)} height="10" />
                  </svg>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
