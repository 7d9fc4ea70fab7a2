// The internal API's refusals as people read them: by their code where the admin pages know
// it, else the API's own message (core/ui.tsx useErrorText).

import { useCallback } from 'react';
import { ApiError } from '../../../core/api';
import { useT } from '../../../core/i18n';
import { useErrorText } from '../../../core/ui';

const KNOWN = ['not_found', 'cannot_lock_self', 'already_member', 'last_coach', 'forbidden'];

export function useRefusal(): (err: unknown) => string {
  const t = useT();
  const errorText = useErrorText();
  return useCallback((err: unknown) => {
    if (err instanceof ApiError && KNOWN.includes(err.code)) return t(`admin.refused.${err.code}`);
    return errorText(err);
  }, [t, errorText]);
}
