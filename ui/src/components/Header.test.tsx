import { screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { renderWith } from '../testing';
import { Header } from './Header';

describe('Header', () => {
  it('keeps an entered token in session storage until it is forgotten', async () => {
    renderWith(<Header commit="c0ffee0011223344" />);
    expect(screen.getByText('c0ffee00')).toBeTruthy();
    await userEvent.type(screen.getByLabelText('API token'), ' tok-1 ');
    await userEvent.click(screen.getByRole('button', { name: 'Use token' }));
    expect(sessionStorage.getItem('slipway.token')).toBe('tok-1');
    expect(screen.getByText('Token set for this session')).toBeTruthy();
    expect(screen.queryByLabelText('API token')).toBeNull();
    await userEvent.click(screen.getByRole('button', { name: 'Forget token' }));
    expect(sessionStorage.getItem('slipway.token')).toBeNull();
    expect(screen.getByLabelText('API token')).toBeTruthy();
  });

  it('reads a token kept earlier in this session', () => {
    renderWith(<Header commit={null} />, { token: 'kept' });
    expect(screen.getByText('Token set for this session')).toBeTruthy();
  });
});
