// The admin area's navigation labels (with the first load; the pages' own messages come with
// their chunk, messages.ts).
import { addMessages } from '../../../core/i18n';

addMessages({
  en: {
    'admin.nav.users': 'Users',
    'admin.nav.groups': 'Groups',
    'admin.nav.consents': 'Consent journal',
    'admin.nav.audit': 'Audit log',
  },
  ru: {
    'admin.nav.users': 'Пользователи',
    'admin.nav.groups': 'Группы',
    'admin.nav.consents': 'Журнал согласий',
    'admin.nav.audit': 'Журнал аудита',
  },
});
