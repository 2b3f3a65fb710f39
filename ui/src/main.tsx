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

/** The event stream, with the token as `?access_token=` when one is set: a
 * browser's EventSource cannot send headers, and a server with
 * `read_requires_token` refuses the stream without it. */
function openEvents(url: string) {
  const token = storedToken();
  return browserEventSource(token ? `${url}?access_token=${encodeURIComponent(token)}` : url);
}

const root = document.getElementById('root');
if (!root) throw new Error('index.html has no #root element');

createRoot(root).render(
  <StrictMode>
    <ApiProvider api={httpApi({ token: storedToken })}>
      <TokenProvider storage={window.sessionStorage}>
        <NowProvider>
          <App openEvents={openEvents} />
        </NowProvider>
      </TokenProvider>
    </ApiProvider>
  </StrictMode>,
);
