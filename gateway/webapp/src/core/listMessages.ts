// Messages of core/PagedList.tsx (its own, so the shared catalogue
// stays as it is).
import { addMessages } from './i18n';

addMessages({
  en: {
    'list.shown': '{n} shown.',
    'list.shownMore': '{n} shown; there are more.',
  },
  ru: {
    'list.shown': 'Показано: {n}.',
    'list.shownMore': 'Показано: {n}; есть ещё.',
  },
});
