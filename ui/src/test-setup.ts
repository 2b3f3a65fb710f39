import { cleanup, configure } from '@testing-library/react';
import { afterEach } from 'vitest';

// The machine is shared with Rust builds: wait longer than the default 1 s before a findBy gives up.
configure({ asyncUtilTimeout: 5_000 });

afterEach(() => {
  cleanup();
  sessionStorage.clear();
  window.location.hash = '';
});
