// Moving the focus to an element that the same update shows or changes (a field's error,
// a field that appears): after React has committed it, not on a timer that may run first.

import { useCallback, useEffect, useState } from 'react';

export function useFocusLater(): (target: () => HTMLElement | null | undefined) => void {
  const [request, setRequest] = useState<{ target: () => HTMLElement | null | undefined } | null>(null);
  useEffect(() => { request?.target()?.focus(); }, [request]);
  return useCallback((target) => setRequest({ target }), []);
}
