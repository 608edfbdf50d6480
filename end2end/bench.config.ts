import { defineConfig } from '@playwright/test';
import tests from './playwright.config';

// The benchmarks of bench/ (`scripts/bench ttl`; BENCHMARKS.md), apart from the specs of
// tests/, which `playwright.config.ts` runs. One at a time, as they time what they do, in
// the same Chromium as the specs.
export default defineConfig({
  testDir: './bench',
  timeout: 10 * 60_000,
  expect: { timeout: 30_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  forbidOnly: !!process.env.CI,
  reporter: [['list']],
  outputDir: './test-results/bench',
  use: { launchOptions: tests.use?.launchOptions },
  projects: [{ name: 'chromium', use: { browserName: 'chromium' } }],
});
