import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { httpApi } from './api/client';
import { App } from './App';
import { ApiProvider, NowProvider, TOKEN_KEY, TokenProvider } from './context';
import { browserEventSource } from './live';
import './styles.css';

function storedToken(): string | null {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

const root = document.getElementById('root');
if (!root) throw new Error('index.html has no #root element');

createRoot(root).render(
  <StrictMode>
    <ApiProvider api={httpApi({ token: storedToken })}>
      <TokenProvider storage={window.sessionStorage}>
        <NowProvider>
          <App openEvents={browserEventSource} />
        </NowProvider>
      </TokenProvider>
    </ApiProvider>
  </StrictMode>,
);
