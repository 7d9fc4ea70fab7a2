import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import './core/messages';
import './styles.css';
import { App } from './App';
import { I18nProvider } from './core/i18n';
import { SessionProvider } from './core/session';

createRoot(document.getElementById('root') as HTMLElement).render(
  <StrictMode>
    <I18nProvider>
      <SessionProvider>
        <App />
      </SessionProvider>
    </I18nProvider>
  </StrictMode>,
);
