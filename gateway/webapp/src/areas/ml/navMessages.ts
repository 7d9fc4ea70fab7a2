// The ML area's navigation labels (with the first load; the pages' own messages come with
// their chunk, messages.ts).
import { addMessages } from '../../core/i18n';

addMessages({
  en: {
    'ml.nav.models': 'Models',
    'ml.nav.inference': 'Inference log',
  },
  ru: {
    'ml.nav.models': 'Модели',
    'ml.nav.inference': 'Журнал инференса',
  },
});
