import type { ReactNode } from 'react';

/** An error the user must see: announced to screen readers, never swallowed. */
export function ErrorMessage({ children }: { children: ReactNode }) {
  if (!children) return null;
  return (
    <div className="message error" role="alert">
      <strong>Error:</strong> {children}
    </div>
  );
}

/** A success or info note, announced politely. */
export function Notice({ children }: { children: ReactNode }) {
  if (!children) return null;
  return (
    <div className="message notice" role="status">
      {children}
    </div>
  );
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
