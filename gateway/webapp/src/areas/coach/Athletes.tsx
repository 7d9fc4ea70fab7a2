import { fmtDateTime } from '../../core/format';
import { useI18n } from '../../core/i18n';
import { Link } from '../../core/router';
import { Card, LoadState, Page, useLoad } from '../../core/ui';
import { athleteLabel, coachedAthletes, type Member } from './data';
import { sportName } from './words';

/** `/app/coach/athletes`: the athletes of each group you coach, with what they let it see. */
export function Athletes() {
  const { t, locale } = useI18n();
  const loaded = useLoad(coachedAthletes, []);
  const consents = (m: Member) => (m.consents.length
    ? m.consents.map((c) => t(`coach.consent.${c}`)).join(', ') : t('coach.consent.none'));
  return (
    <Page title={t('coach.athletes.title')}>
      <p className="hint">{t('coach.athletes.intro')}</p>
      <LoadState loaded={loaded}>
        {(groups) => (groups.length === 0 ? <p>{t('coach.choose.none')}</p> : groups.map(({ group, athletes }) => (
          <Card key={group.id} title={t('coach.choose.option', { name: group.name, sport: sportName(t, group.sport) })}>
            {athletes.length === 0 ? <p className="hint">{t('coach.athletes.none')}</p> : (
              <div className="table-wrap">
                <table className="coach-athletes">
                  <thead>
                    <tr>
                      <th scope="col">{t('coach.athletes.name')}</th>
                      <th scope="col">{t('coach.athletes.consents')}</th>
                      <th scope="col">{t('coach.athletes.joined')}</th>
                    </tr>
                  </thead>
                  <tbody>
                    {athletes.map((m) => (
                      <tr key={m.user_id} data-athlete-id={m.user_id}>
                        <td>
                          <Link to={`/app/coach/athletes/${encodeURIComponent(m.user_id)}`}>
                            {athleteLabel(m, m.user_id, (id) => t('coach.tile.unnamed', { id }))}
                          </Link>
                        </td>
                        <td>{consents(m)}</td>
                        <td>{fmtDateTime(m.joined_at, locale)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )}
          </Card>
        )))}
      </LoadState>
    </Page>
  );
}
