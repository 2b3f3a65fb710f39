import { render, screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { transition } from '../testing';
import { PullRequestLink } from './PullRequestLink';

const prod = (pull_request?: Parameters<typeof transition>[0]['pull_request']) =>
  transition({ name: 'prod', source: 'pp', target: 'prod', state: 'AwaitingMerge', pull_request });

describe('PullRequestLink', () => {
  it('links the pull request with its number and state', () => {
    render(
      <PullRequestLink transition={prod({ host: 'github', number: 12, url: 'https://h/pull/12', state: 'open' })} />,
    );
    const link = screen.getByRole('link', { name: 'Pull request #12 (open)' });
    expect(link.getAttribute('href')).toBe('https://h/pull/12');
  });

  it('calls it a merge request on GitLab and says when it was merged', () => {
    render(
      <PullRequestLink transition={prod({ host: 'gitlab', number: 3, url: 'https://g/mr/3', state: 'merged' })} />,
    );
    expect(screen.getByRole('link', { name: 'Merge request #3 (merged)' })).toBeTruthy();
  });

  it('shows the host error, also before a request exists', () => {
    render(<PullRequestLink transition={prod({ host: 'gitea', error: 'gitea API answered 401: bad token' })} />);
    expect(screen.queryByRole('link')).toBeNull();
    expect(screen.getByText(/Git host: gitea API answered 401/)).toBeTruthy();
  });

  it('shows nothing for a transition without a git host', () => {
    const { container } = render(<PullRequestLink transition={prod()} />);
    expect(container.textContent).toBe('');
  });
});
