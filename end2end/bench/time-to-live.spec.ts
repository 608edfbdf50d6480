// Issue 11: what a person on a slow phone waits for, opening a room of 50 messages.
// A benchmark, not a test: it fails only when a page never goes live, and prints the
// figures (BENCHMARKS.md records them) and writes them to
// end2end/bench-results/time-to-live.json. Run it with `scripts/bench ttl`, which builds
// the release site first (`cargo leptos build --release --precompress --split`).
//
// Each load is timed in the page, from navigation start (`performance.timeOrigin`):
// - text painted: the first message's text, by Element Timing (`slow-phone.ts`, `probe`);
//   first contentful paint is reported too, but that may be the header alone;
// - app running: the header's status changes from the server's `offline` (after
//   hydration, the app's effects have run);
// - stream asked for, stream open: `new EventSource` and its `open` event;
// - live: the header's status says `live`, the event stream open;
// - hydrated: the message rows become focusable, which only the running app does (its
//   rows are mounted after live, with the rest of the WASM);
// - bytes: what the page transferred until live (headers and bodies as sent, the event
//   stream aside), with what its service worker fetched to answer it; the /pkg/ files
//   (WASM, JS, CSS) alone; and apart, what the worker fetched for itself meanwhile (on a
//   first visit it fetches the page again, to keep a copy).
// The page's HTML received (`responseEnd`) is reported too, to read the others by.
// First, how fast the machine runs script, unslowed and slowed (`benchmarkIndex`): the
// slowdown is relative to the machine, so runs on different machines compare by it.
// Cold: a new browser context each time, with nothing cached and no service worker.
// Warm: one context, after one load to prime it: the HTTP cache holds the hashed /pkg/
// files (immutable), and the app's service worker is installed, running and answers
// every page and /pkg/ file network first, as a person coming back gets it. The worker
// is slowed like the page (`Workers`).
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, BrowserContext } from '@playwright/test';
import { test, expect, postAs, signIn, type ChatNode } from '../tests/fixtures';
import { CPU_SLOWDOWN, NETWORK, PHONE, Workers, benchmarkIndex, load, probe, type Load } from './slow-phone';

const RUNS = 5;
const ROOM = 'slow-phone';
/** The reader, who also wrote some of the messages. */
const READER = 'dana';
const TARGETS = { text: 1000, liveCold: 2500, liveWarm: 1000 };
const results = path.join(__dirname, '..', 'bench-results', 'time-to-live.json');

/** 50 messages of a working chat: short and long, some Markdown, links, a mention, a
 * quote and a code block, from five people. */
function conversation(): { name: string; text: string }[] {
  const lines = [
    'morning all',
    'Did anyone look at the deploy from last night? The dashboard still shows the old version for me.',
    'yes, it rolled back: the health check timed out on **two of the five** nodes',
    'ugh. do we know why?',
    'Looks like the new migration takes a lock on `sessions` for the whole run. See https://example.com/ops/incidents/1182 for the graphs.',
    'that explains the 502s around 23:10',
    '@dana can you take a look before standup? you wrote the migration',
    'on it ☕',
    'First guess: the index build. On staging it took 40 s, on prod the table is about 30× bigger, so that is 20 minutes of a held lock. We should build it `CONCURRENTLY` and split the backfill into batches of 10k rows.',
    '+1',
    '> split the backfill into batches of 10k rows\n\nWe did that for the `events` table last year, the script is still in the repo: [backfill.rs](https://example.com/repo/blob/main/tools/backfill.rs)',
    'nice, I will reuse it',
    'lunch anyone? the new ramen place opened on the corner',
    'in! 12:30?',
    '12:30 works',
    'Reminder: the **design review** for the onboarding flow is moved to Thursday 15:00. Agenda and mockups: https://example.com/docs/onboarding-review',
    'thanks for the heads up',
    'Quick question: is the `v2` API still used by the mobile app, or can we finally turn it off?',
    'The iOS app moved to v3 in 4.12; Android still calls `GET /v2/profile` on startup. So not yet *unfortunately*.',
    'ok, I will file a ticket for the Android team',
    'here is the plan for the migration:\n\n```\n1. create index concurrently\n2. backfill in batches\n3. add the constraint NOT VALID, then validate\n```',
    'looks good to me. can we run step 1 today?',
    'after 18:00, when traffic is low',
    'agreed',
    'I will be around until 19:00 if you need a second pair of eyes',
    'The flaky test in `checkout_flow` is back. Third time this week. It fails on the CI runner only, never locally, always with a timeout waiting for the payment iframe.',
    'probably the sandbox being slow again',
    'We could mock the provider in CI and keep one nightly job against the real sandbox.',
    '**yes please**',
    'I can do that tomorrow',
    'Has anyone seen my charger? Black, USB-C, left it in the small meeting room.',
    'it is at the front desk',
    'thank you!!',
    'FYI the staging database will be restored from last night\'s backup at 16:00, so anything you put there today will be gone.',
    'noted',
    'Customer feedback from the beta, summarised: people like the new search (**41 of 50** used it more than once), the filters are hard to find on mobile, and two people asked for saved searches. Full notes: https://example.com/research/beta-3',
    'saved searches keep coming up, let us put it on the roadmap',
    '@eli can you turn the filter feedback into a design ticket?',
    'sure, this afternoon',
    'index build started, 0% … this will take a while',
    '12% after 5 minutes, no locks held, p99 unchanged',
    'great news',
    '45%',
    'Coffee machine on the 3rd floor is fixed, by the way. Somebody had put a tea bag in the milk container.',
    'who does that',
    'no comment 🙈',
    '100%, index is valid. Starting the backfill now with batches of 10k, one every 200 ms.',
    'watching the graphs, all flat so far',
    'backfill done in 14 minutes, zero errors. Deploying the app change at 19:00 as planned.',
    'well done everyone 🎉',
  ];
  const names = ['ann', 'bea', 'cyd', 'dana', 'eli'];
  return lines.map((text, i) => ({ name: names[(i * 3 + Math.floor(i / 4)) % names.length], text }));
}

/** A browser context of the reader, as a phone, with the page probe in every document. */
async function readerContext(browser: Browser, node: ChatNode): Promise<BrowserContext> {
  const context = await browser.newContext(PHONE);
  await signIn(context, node, READER);
  await context.addInitScript(probe);
  return context;
}

type Figure = { median: number; min: number; max: number; runs: number[] } | null;

function figure(values: (number | undefined)[]): Figure {
  const runs = values.filter((v): v is number => v !== undefined).map((v) => Math.round(v));
  if (runs.length === 0) return null;
  const sorted = [...runs].sort((a, b) => a - b);
  const [min, max] = [sorted[0], sorted[sorted.length - 1]];
  return { median: sorted[Math.floor(sorted.length / 2)], min, max, runs };
}

const METRICS = [
  ['html', 'HTML received', 'ms'],
  ['text', 'text painted', 'ms'],
  ['fcp', 'first contentful paint', 'ms'],
  ['textInDom', 'text in the DOM', 'ms'],
  ['running', 'app running', 'ms'],
  ['streamAsked', 'stream asked for', 'ms'],
  ['streamOpen', 'stream open', 'ms'],
  ['live', 'live', 'ms'],
  ['hydrated', 'hydrated', 'ms'],
  ['bytes', 'bytes until live', 'B'],
  ['pkgBytes', '  of which /pkg/', 'B'],
  ['workerOwnBytes', "worker's own, until live", 'B'],
] as const;

type Summary = Record<(typeof METRICS)[number][0], Figure>;

function summarise(loads: Load[]): Summary {
  return Object.fromEntries(METRICS.map(([key]) => [key, figure(loads.map((l) => l[key]))])) as Summary;
}

const number = (n: number) => n.toLocaleString('en-US');

function table(cold: Summary, warm: Summary): string {
  const cell = (f: Figure, unit: string) =>
    f ? `${number(f.median)} ${unit} (${number(f.min)}–${number(f.max)})` : 'n/a';
  const targets: Record<string, string> = {
    text: `≤ ${TARGETS.text} ms`,
    live: `≤ ${TARGETS.liveCold} / ${TARGETS.liveWarm} ms`,
  };
  const rows = [
    ['', 'cold', 'warm', 'target (cold / warm)'],
    ...METRICS.map(([key, label, unit]) => [label, cell(cold[key], unit), cell(warm[key], unit), targets[key] ?? '']),
  ];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  return rows.map((row) => row.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()).join('\n');
}

function git(...args: string[]): string {
  return execFileSync('git', args, { cwd: path.join(__dirname, '..', '..') }).toString().trim();
}

/** Prints the figures and writes them, with every load's, to `results`. */
function report(browser: Browser, cpu: { host: number; phone: number }, cold: Load[], warm: Load[]): void {
  const summary = { cold: summarise(cold), warm: summarise(warm) };
  const down = (NETWORK.downloadThroughput * 8) / 1e6;
  const up = (NETWORK.uploadThroughput * 8) / 1e3;
  const { width, height } = PHONE.viewport;
  const conditions =
    `${down} Mbit/s down, ${up} kbit/s up, ${NETWORK.latency} ms latency, ` +
    `CPU ${CPU_SLOWDOWN}× slower, ${width}×${height}`;
  const index = `Lighthouse BenchmarkIndex ${number(cpu.host)} unslowed, ${number(cpu.phone)} slowed ${CPU_SLOWDOWN}×`;
  const dirty = git('status', '--porcelain', '--untracked-files=no') !== '';
  const revision = git('rev-parse', '--short', 'HEAD') + (dirty ? ' + uncommitted changes' : '');
  const cpus = os.cpus();
  const machine = `${cpus.length} cores, ${cpus[0]?.model.trim()}, ${Math.round(os.totalmem() / 2 ** 30)} GiB`;
  const date = new Date().toISOString();
  const pkg = cold[0].transfers
    .filter((t) => t.by === 'page' && t.path.includes('/pkg/'))
    .map((t) => `${t.path} ${number(t.bytes)} B ${t.encoding ?? 'identity'}`);
  console.log(
    [
      '',
      `time to live (issue 11): a room of ${conversation().length} messages; ${conditions}`,
      `median (min–max) of ${RUNS} loads, from navigation start; ${date.slice(0, 10)}, ${revision}, ` +
        `Chromium ${browser.version()}, ${machine}`,
      `the phone's CPU: ${index} (a mid-tier phone is 125–800; the slowdown is relative to this machine)`,
      table(summary.cold, summary.warm),
      `cold /pkg/: ${pkg.join(', ')}`,
      `warm: the service worker answered the page in ${warm.filter((l) => l.viaWorker).length} of ${RUNS} loads`,
      '',
    ].join('\n'),
  );
  const json = {
    date,
    revision,
    machine,
    chromium: browser.version(),
    conditions: { network: NETWORK, cpuSlowdown: CPU_SLOWDOWN, screen: PHONE },
    benchmarkIndex: cpu,
    messages: conversation().length,
    targets: TARGETS,
    summary,
    runs: { cold, warm },
  };
  mkdirSync(path.dirname(results), { recursive: true });
  writeFileSync(results, JSON.stringify(json, null, 2) + '\n');
}

/** The paths of what the app's service worker keeps (`public/sw.js`), read from a JSON
 * answer of the site, which the worker leaves alone. */
async function kept(context: BrowserContext, node: ChatNode): Promise<string[]> {
  const page = await context.newPage();
  try {
    await page.goto(`${node.url}/api/rooms/${ROOM}/messages?limit=1`);
    return await page.evaluate(async () => {
      const cache = await caches.open('tiny-chat-v1');
      return (await cache.keys()).map((request) => new URL(request.url).pathname);
    });
  } finally {
    await page.close();
  }
}

test('a room of 50 messages on a slow phone: text, hydrated, live, bytes; cold and warm', async ({
  browser,
  chat,
}) => {
  const cpu = await benchmarkIndex(browser);
  const node = await chat.node();
  for (const { name, text } of conversation()) await postAs(node, name, ROOM, [text]);
  const url = `${node.url}/r/${ROOM}`;
  const workers = await Workers.watch(browser, node.url);

  const cold: Load[] = [];
  for (let run = 0; run < RUNS; run++) {
    const context = await readerContext(browser, node);
    cold.push(await load(context, url, workers));
    await context.close();
  }

  const context = await readerContext(browser, node);
  const primed = await load(context, url, workers);
  // Once the worker controls the page, it keeps the page and its /pkg/ files.
  const files = primed.transfers
    .map((t) => t.path)
    .filter((p) => p === `/r/${ROOM}` || p.includes('/pkg/'));
  await expect.poll(() => kept(context, node), { timeout: 30_000 }).toEqual(expect.arrayContaining(files));
  expect(workers.running, 'the service worker runs, slowed').toBeGreaterThan(0);
  const warm: Load[] = [];
  for (let run = 0; run < RUNS; run++) warm.push(await load(context, url, workers));
  await context.close();
  await workers.detach();

  report(browser, cpu, cold, warm);
  for (const l of [...cold, primed, ...warm]) {
    expect(l.signedIn, 'the reader is signed in').toBe(true);
    expect(l.problems, 'the page reported errors').toEqual([]);
  }
});
