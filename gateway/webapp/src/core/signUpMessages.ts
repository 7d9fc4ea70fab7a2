import { addMessages } from './i18n';

addMessages({
  en: {
    'signup.open': 'Create an account',
    'signup.title': 'Create an account',
    'signup.password': 'Password',
    'signup.password.hint': 'At least 12 characters.',
    'signup.birthDate': 'Birth date (optional)',
    'signup.birthDate.hint': 'Under 16, a guardian confirms before your heart rate is processed or groups show you.',
    'signup.consent': 'I consent to Stride processing my heart rate, SpO2 and what is computed from them (privacy policy {version})',
    'signup.consent.hint': 'Optional; you can withdraw it any time on the privacy page. Without it your workouts are recorded without heart rate and SpO2.',
    'signup.submit': 'Create account',
    'signup.back': 'Back to sign in',
    'signup.missing': 'Enter your e-mail and a password of at least 12 characters.',
    'signup.taken': 'An account with this e-mail exists: sign in instead.',
  },
  ru: {
    'signup.open': 'Создать аккаунт',
    'signup.title': 'Создать аккаунт',
    'signup.password': 'Пароль',
    'signup.password.hint': 'Не короче 12 символов.',
    'signup.birthDate': 'Дата рождения (необязательно)',
    'signup.birthDate.hint': 'До 16 лет опекун подтверждает согласие, прежде чем обрабатывать пульс или показывать вас в группах.',
    'signup.consent': 'Я согласен(на) на обработку Stride моего пульса, SpO2 и того, что из них вычисляется (политика конфиденциальности {version})',
    'signup.consent.hint': 'Необязательно; согласие можно отозвать на странице приватности. Без него тренировки записываются без пульса и SpO2.',
    'signup.submit': 'Создать аккаунт',
    'signup.back': 'Назад ко входу',
    'signup.missing': 'Введите e-mail и пароль не короче 12 символов.',
    'signup.taken': 'Аккаунт с этим e-mail уже есть: войдите.',
  },
});
