import { screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import type { HistoryEntry, Origin } from '../api/types';
import { renderWith } from '../testing';
import { COLLAPSED_LINES, HistoryList } from './History';

function origin(commit: string, subject: string, changelog: string): Origin {
  return { service: 'web', env: 'latest', commit, author: 'ci', time: 0, subject, changelog };
}

function promotion(changelogs: Origin[]): HistoryEntry {
  return {
    commit: 'cccc000000000000000000000000000000000000',
    author: 'slipway-transitioner',
    time: '2026-11-22T07:00:00Z',
    message: 'Promote pp → prod: web 1 → 3',
    changelog: 'web: 1 → 3\n\nChangelog of web:\n  d65274b309 Promote dev → pp …',
    env: 'prod',
    service: 'web',
    old: '1',
    new: '3',
    kind: 'promotion',
    changelogs,
  };
}

describe('HistoryList', () => {
  it('shows the original changelog of every version a promotion carried, in order, with its origin commit', () => {
    const entry = promotion([
      origin('2222000000000000000000000000000000000000', 'web 2 in latest', 'Faster start-up'),
      origin('3333000000000000000000000000000000000000', 'web 3 in latest', 'Smaller image'),
    ]);
    renderWith(<HistoryList entries={[entry]} error={null} empty="none" />);
    const carried = screen.getByRole('list', { name: 'Changelogs carried' });
    const items = within(carried).getAllByRole('listitem');
    expect(items.map((li) => li.querySelector('pre')?.textContent)).toEqual(['Faster start-up', 'Smaller image']);
    expect(items[0]?.textContent).toContain('22220000 web 2 in latest');
    expect(items[0]?.textContent).toContain('into latest by ci');
    expect(document.body.textContent).not.toContain('Promote dev → pp');
  });

  it('shows a long changelog unclipped after expanding it', async () => {
    const lines = Array.from({ length: COLLAPSED_LINES + 5 }, (_, i) => `line ${i + 1}`);
    const entry = promotion([origin('2222000000000000000000000000000000000000', 'web 2', lines.join('\n'))]);
    renderWith(<HistoryList entries={[entry]} error={null} empty="none" />);
    const pre = document.querySelector('pre.changelog');
    expect(pre?.textContent).toContain(`line ${COLLAPSED_LINES}`);
    expect(pre?.textContent).not.toContain(`line ${COLLAPSED_LINES + 1}`);
    await userEvent.click(screen.getByRole('button', { name: `Show all ${lines.length} lines` }));
    expect(document.querySelector('pre.changelog')?.textContent).toBe(lines.join('\n'));
    expect(screen.getByRole('button', { name: 'Show less' }).getAttribute('aria-expanded')).toBe('true');
  });
});
