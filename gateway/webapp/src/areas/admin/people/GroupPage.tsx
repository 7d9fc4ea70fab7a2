// One group (`GroupDetail`) and its members (`GroupMembers`): remove one (their consents to
// the group end, so it is confirmed first), or find an account and add it as an athlete —
// coaches join only by accepting an invitation (gateway/internal/schema/groups.py).

import { type FormEvent, useRef, useState } from 'react';
import { graphql } from '../../../core/api';
import { Confirm } from '../../../core/Confirm';
import { fmtDateTime } from '../../../core/format';
import { usePagedQuery } from '../../../core/graphqlPaged';
import { useI18n, useT } from '../../../core/i18n';
import { PagedList } from '../../../core/PagedList';
import { Link } from '../../../core/router';
import { Alert, Field, LoadState, Page, useLoad } from '../../../core/ui';
import './messages';
import { useRefusal } from './refusal';
import type { Group, Member, User } from './types';

type Message = { kind: 'ok' | 'error'; text: string } | null;

export function GroupPage({ id }: { id: string }) {
  const { t, locale } = useI18n();
  const loaded = useLoad(() => graphql<{ group: Group | null }>('GroupDetail', { id }), [id]);
  const found = loaded.data?.group;
  const title = found ? found.name : loaded.data ? t('admin.group.missing') : t('admin.group.title');
  return (
    <Page title={title}>
      <p><Link to="/app/admin/groups">{t('admin.group.back')}</Link></p>
      <LoadState loaded={loaded}>
        {({ group: g }) => (g === null ? <p>{t('admin.group.missingBody')}</p> : (
          <>
            <section className="card" aria-labelledby="group-facts">
              <h2 id="group-facts">{t('admin.group.facts')}</h2>
              <dl className="facts admin-facts">
                <dt>{t('admin.groups.sport')}</dt><dd>{t(`admin.sport.${g.sport}`)}</dd>
                <dt>{t('admin.groups.athletes')}</dt><dd>{g.athletes}</dd>
                <dt>{t('admin.groups.coaches')}</dt><dd>{g.coaches}</dd>
                <dt>{t('admin.groups.created')}</dt><dd>{fmtDateTime(g.createdAt, locale)}</dd>
              </dl>
              <ul className="admin-links">
                <li><Link to={`/app/admin/consents?group=${encodeURIComponent(g.id)}`}>{t('admin.group.consents')}</Link></li>
                <li><Link to={`/app/admin/audit?target=${encodeURIComponent(`group:${g.id}`)}`}>{t('admin.group.audit')}</Link></li>
              </ul>
            </section>
            <Members group={g} onChanged={loaded.reload} />
          </>
        ))}
      </LoadState>
    </Page>
  );
}

function Members({ group, onChanged }: { group: Group; onChanged: () => void }) {
  const { t, locale } = useI18n();
  const refusal = useRefusal();
  const heading = useRef<HTMLHeadingElement>(null);
  const members = usePagedQuery<Member>('GroupMembers', 'groupMembers', { groupId: group.id });
  const [removing, setRemoving] = useState<Member | null>(null);
  const [message, setMessage] = useState<Message>(null);
  const who = (m: Member) => m.email ?? m.userId;

  async function remove(m: Member) {
    setRemoving(null);
    setMessage(null);
    try {
      await graphql('RemoveGroupMember', { groupId: group.id, userId: m.userId });
      setMessage({ kind: 'ok', text: t('admin.members.removed', { who: who(m), group: group.name }) });
      onChanged();
    } catch (err) {
      setMessage({ kind: 'error', text: refusal(err) });
    }
    members.reload();
    heading.current?.focus();
  }

  const added = (text: string) => {
    setMessage({ kind: 'ok', text });
    members.reload();
    onChanged();
  };
  return (
    <>
      <section className="card" aria-labelledby="group-members">
        <h2 id="group-members" ref={heading} tabIndex={-1}>{t('admin.members.title')}</h2>
        {message ? <Alert kind={message.kind}>{message.text}</Alert> : null}
        <PagedList paged={members} empty={t('admin.members.none')} errorText={refusal}>
          {(items) => (
            <div className="table-wrap admin-wrap">
              <table>
                <thead>
                  <tr>
                    <th scope="col">{t('admin.members.who')}</th>
                    <th scope="col">{t('admin.members.role')}</th>
                    <th scope="col">{t('admin.members.joined')}</th>
                    <th scope="col"><span className="visually-hidden">{t('admin.actions')}</span></th>
                  </tr>
                </thead>
                <tbody>
                  {items.map((m) => (
                    <tr key={m.userId}>
                      <th scope="row"><Link to={`/app/admin/users/${m.userId}`}>{who(m)}</Link></th>
                      <td>{t(`admin.role.${m.role}`)}</td>
                      <td>{fmtDateTime(m.joinedAt, locale)}</td>
                      <td>
                        <button type="button" className="danger" onClick={() => setRemoving(m)}
                          aria-label={t('admin.members.removeNamed', { who: who(m) })}>{t('admin.members.remove')}</button>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </PagedList>
        {removing ? (
          <Confirm confirmLabel={t('admin.members.removeConfirm')} onConfirm={() => void remove(removing)}
            onCancel={() => { setRemoving(null); heading.current?.focus(); }}>
            <p>{t('admin.members.removeAsk', { who: who(removing), group: group.name })}</p>
          </Confirm>
        ) : null}
      </section>
      <AddMember group={group} onAdded={added} onRefused={(text) => setMessage({ kind: 'error', text })}
        focusResult={() => heading.current?.focus()} />
    </>
  );
}

/** Find an account by e-mail or name and add it to the group as an athlete. */
function AddMember({ group, onAdded, onRefused, focusResult }: {
  group: Group; onAdded: (text: string) => void; onRefused: (text: string) => void; focusResult: () => void;
}) {
  const t = useT();
  const refusal = useRefusal();
  const [text, setText] = useState('');
  const [search, setSearch] = useState<string | null>(null);
  const found = usePagedQuery<User>('SearchUsers', 'users', { search, limit: 10 }, search !== null);

  const submit = (ev: FormEvent) => {
    ev.preventDefault();
    setSearch(text.trim());
  };
  async function add(u: User) {
    try {
      await graphql('AddGroupMember', { groupId: group.id, userId: u.id });
      onAdded(t('admin.members.added', { who: u.email, group: group.name }));
    } catch (err) {
      onRefused(refusal(err));
    }
    focusResult();
  }
  return (
    <section className="card" aria-labelledby="group-add">
      <h2 id="group-add">{t('admin.members.addTitle')}</h2>
      <p className="hint">{t('admin.members.addIntro')}</p>
      <form role="search" className="row" onSubmit={submit} aria-label={t('admin.members.addTitle')}>
        <Field label={t('admin.members.find')} type="search" value={text} maxLength={200}
          onChange={(e) => setText(e.target.value)} />
        <div className="field"><button type="submit" className="secondary">{t('admin.search')}</button></div>
      </form>
      {search === null ? null : (
        <PagedList paged={found} empty={t('admin.users.none')} errorText={refusal}>
          {(items) => (
            <ul className="plain admin-candidates">
              {items.map((u) => (
                <li key={u.id}>
                  <span>{u.email}</span>
                  <button type="button" className="secondary" onClick={() => void add(u)}
                    aria-label={t('admin.members.addNamed', { who: u.email })}>{t('admin.members.add')}</button>
                </li>
              ))}
            </ul>
          )}
        </PagedList>
      )}
    </section>
  );
}
