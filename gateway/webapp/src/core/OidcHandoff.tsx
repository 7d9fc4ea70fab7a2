import { useEffect, useRef, useState } from 'react';
import { api } from './api';
import { useT } from './i18n';
import { navigate } from './router';
import { useSession } from './session';
import { Alert, Page, useErrorText } from './ui';

interface LinkProposal { provider: string; subject: string; email: string | null; name: string | null; confirm: string }
interface OidcResult { provider: string; token: string | null; link: LinkProposal | null; linked: boolean; created: boolean }

/** Where a provider's sign-in lands (gateway/oidc_api.py sends the browser here with a
 *  single-use code in the URL fragment): collect the result, then sign in or offer the link. */
export function OidcHandoff() {
  const t = useT();
  const errorText = useErrorText();
  const { adopt } = useSession();
  const [error, setError] = useState<string | null>(null);
  const [proposal, setProposal] = useState<LinkProposal | null>(null);
  const [linked, setLinked] = useState(false);
  const started = useRef(false);

  useEffect(() => {
    if (started.current) return;   // once, even under StrictMode's double effects
    started.current = true;
    const code = new URLSearchParams(window.location.hash.slice(1)).get('handoff');
    history.replaceState(null, '', window.location.pathname);   // the code is single-use anyway
    if (!code) { setError(t('oidc.noCode')); return; }
    api<OidcResult>('POST', '/v1/auth/oidc/handoff', { code }).then(async (result) => {
      if (result.token) {
        await adopt(result.token);
        navigate('/', { replace: true });
      } else if (result.link) {
        setProposal(result.link);
      }
    }, (err: unknown) => setError(errorText(err)));
  }, [adopt, errorText, t]);

  async function confirm() {
    if (!proposal) return;
    setError(null);
    try {
      await api('POST', proposal.confirm);
      setLinked(true);
      setProposal(null);
    } catch (err) {
      setError(errorText(err));
    }
  }

  return (
    <Page title={t('oidc.title')}>
      <div className="card narrow">
        <Alert>{error}</Alert>
        {linked ? <Alert kind="ok">{t('oidc.linked')}</Alert> : null}
        {proposal ? (
          <>
            <p>{t('oidc.linkAsk', { provider: proposal.provider })}</p>
            <dl className="facts">
              <dt>{t('oidc.account')}</dt><dd>{proposal.email ?? proposal.subject}</dd>
              {proposal.name ? <><dt>{t('oidc.name')}</dt><dd>{proposal.name}</dd></> : null}
            </dl>
            <p className="row">
              <button type="button" className="primary" onClick={() => void confirm()}>{t('oidc.confirm')}</button>
              <button type="button" className="secondary" onClick={() => navigate('/')}>{t('common.cancel')}</button>
            </p>
          </>
        ) : null}
        {!error && !proposal && !linked ? <p role="status">{t('common.loading')}</p> : null}
      </div>
    </Page>
  );
}
