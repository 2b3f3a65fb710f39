import { useEffect, useId, useRef, type ReactNode } from 'react';
import { ErrorMessage } from './Messages';

/**
 * A modal dialog: labelled by its title, focus moved into it on open and back to
 * where it was on close, Escape and the backdrop close it, Tab stays inside.
 */
export function Dialog({ title, onClose, children }: { title: string; onClose: () => void; children: ReactNode }) {
  const titleId = useId();
  const ref = useRef<HTMLDivElement>(null);

  useEffect(() => {
    const before = document.activeElement as HTMLElement | null;
    const box = ref.current;
    // The first field to fill in, else the first (safe) button: Cancel comes before a destructive one.
    const first =
      box?.querySelector<HTMLElement>('input, textarea, select') ??
      box?.querySelector<HTMLElement>('button:not(.dialog-close)');
    (first ?? box)?.focus();
    return () => before?.focus?.();
  }, []);

  function onKeyDown(e: React.KeyboardEvent) {
    if (e.key === 'Escape') {
      e.stopPropagation();
      onClose();
      return;
    }
    if (e.key !== 'Tab' || !ref.current) return;
    const focusable = Array.from(
      ref.current.querySelectorAll<HTMLElement>('a[href], button:not([disabled]), input, textarea, select'),
    );
    const first = focusable[0];
    const last = focusable[focusable.length - 1];
    if (!first || !last) return;
    if (e.shiftKey && document.activeElement === first) {
      e.preventDefault();
      last.focus();
    } else if (!e.shiftKey && document.activeElement === last) {
      e.preventDefault();
      first.focus();
    }
  }

  return (
    <div className="backdrop" onMouseDown={(e) => e.target === e.currentTarget && onClose()}>
      <div
        className="dialog"
        role="dialog"
        aria-modal="true"
        aria-labelledby={titleId}
        ref={ref}
        tabIndex={-1}
        onKeyDown={onKeyDown}
      >
        <header className="dialog-header">
          <h2 id={titleId}>{title}</h2>
          <button type="button" className="dialog-close" aria-label="Close" onClick={onClose}>
            ×
          </button>
        </header>
        {children}
      </div>
    </div>
  );
}

/** A dialog's last row: the error of its action, if any, then Cancel and the action's button. */
export function DialogButtons({
  error,
  onCancel,
  children,
}: {
  error: ReactNode;
  onCancel: () => void;
  children: ReactNode;
}) {
  return (
    <>
      <ErrorMessage>{error}</ErrorMessage>
      <div className="buttons">
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
        {children}
      </div>
    </>
  );
}
