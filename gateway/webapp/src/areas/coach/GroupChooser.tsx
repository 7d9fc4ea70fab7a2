import { type FormEvent, useState } from 'react';
import { useT } from '../../core/i18n';
import { navigate } from '../../core/router';
import { LoadState, Page, Select, useLoad } from '../../core/ui';
import { coachedGroups } from './data';
import { sportName } from './words';

/** `/app/coach`: choose one of the groups you coach to watch it live. */
export function GroupChooser() {
  const t = useT();
  const groups = useLoad(coachedGroups, []);
  const [chosen, setChosen] = useState('');
  return (
    <Page title={t('coach.choose.title')}>
      <div className="card narrow">
        <LoadState loaded={groups}>
          {(list) => {
            if (list.length === 0) return <p className="hint">{t('coach.choose.none')}</p>;
            const id = chosen || list[0].id;
            const open = (ev: FormEvent) => {
              ev.preventDefault();
              navigate(`/app/coach/groups/${encodeURIComponent(id)}`);
            };
            return (
              <form onSubmit={open}>
                <Select label={t('coach.choose.label')} id="coach-group" value={id} onChange={setChosen}
                  options={list.map((g) => [g.id, t('coach.choose.option', { name: g.name, sport: sportName(t, g.sport) })])} />
                <button type="submit" className="primary">{t('coach.choose.submit')}</button>
              </form>
            );
          }}
        </LoadState>
      </div>
    </Page>
  );
}
