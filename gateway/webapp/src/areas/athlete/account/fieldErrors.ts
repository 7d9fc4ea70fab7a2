// Which field a refusal is about, so the page can say what is wrong next to that field.
// The API answers a bad field with 422 `invalid` and a message naming it: msgspec's
// validation (`… 'key': 'hr_rest' …`) or a database check (`… "users_hr_order_check"`).

import { ApiError } from '../../../core/api';

/** Database checks that span fields: the field the person should change. */
const CHECK_FIELD: Record<string, string> = { hr_order: 'hr_max', names_length: 'first_name' };

export function fieldOf(err: unknown, fields: readonly string[]): string | null {
  if (!(err instanceof ApiError) || (err.status !== 422 && err.status !== 400)) return null;
  const key = /'key': '([A-Za-z_]+)'/.exec(err.message)?.[1];
  if (key && fields.includes(key)) return key;
  const check = /"users_([a-z0-9_]+?)_check"/.exec(err.message)?.[1];
  const field = check ? CHECK_FIELD[check] ?? check : null;
  return field && fields.includes(field) ? field : null;
}
