import { useEffect, useState } from 'react';
import { ReloadProvider, useApi } from './context';
import { useLiveState, type EventSourceFactory, type LiveOptions } from './live';
import { countFailed, pageTitle, parseRoute, stalenessReasons, type Route } from './model';
import { EnvPage } from './components/EnvPage';
import { Header } from './components/Header';
import { DoraPage } from './components/DoraPage';
import { HistoryPage } from './components/HistoryPage';
import { ErrorMessage } from './components/Messages';
import { Overview } from './components/Overview';
import { PreviewPage } from './components/PreviewPage';
import { PreviewsPage } from './components/PreviewsPage';
import { ServicePage } from './components/ServicePage';
import { StaleBanner } from './components/StaleBanner';

function useHashRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(window.location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parseRoute(window.location.hash));
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return route;
}

/** The whole UI: live state from the aggregator, routed by the URL hash. */
export function App({ openEvents, live: liveOptions }: { openEvents: EventSourceFactory; live?: LiveOptions }) {
  const api = useApi();
  const live = useLiveState(api, openEvents, liveOptions);
  const route = useHashRoute();
  const { state } = live;

  const failed = countFailed(state);
  useEffect(() => {
    document.title = pageTitle(route, failed);
  }, [route, failed]);
  useEffect(() => {
    window.scrollTo?.(0, 0);
  }, [route]);

  const reasons = stalenessReasons({
    connected: live.connection !== 'closed',
    state,
    loadError: state ? live.loadError : null,
  });

  return (
    <ReloadProvider value={live.reload}>
      <Header commit={state?.commit} transitionerLeader={state?.transitioner_leader} />
      <StaleBanner reasons={reasons} loadedAt={live.loadedAt} />
      <main>
        {!state && live.loadError && <ErrorMessage>{live.loadError}</ErrorMessage>}
        {!state && !live.loadError && <p className="muted">Loading state…</p>}
        {state && route.page === 'overview' && (
          <Overview key={route.filter} state={state} initialFilter={route.filter} />
        )}
        {state && route.page === 'service' && <ServicePage state={state} service={route.service} />}
        {state && route.page === 'env' && <EnvPage state={state} env={route.env} />}
        {state && route.page === 'history' && <HistoryPage key={route.text} state={state} text={route.text} />}
        {state && route.page === 'dora' && (
          <DoraPage state={state} since={route.since} service={route.service} refreshKey={state.commit ?? ''} />
        )}
        {state && route.page === 'preview' && (
          <PreviewPage transition={route.transition} refreshKey={state.commit ?? ''} />
        )}
        {state && route.page === 'previews' && <PreviewsPage state={state} />}
        {route.page === 'not-found' && (
          <section className="empty">
            <h1>Page not found</h1>
            <p>
              Nothing lives at <code>{route.hash}</code>. <a href="#/">Go to the overview</a>.
            </p>
          </section>
        )}
      </main>
    </ReloadProvider>
  );
}
