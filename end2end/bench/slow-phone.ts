// A slow phone in Chromium, for the benchmarks: its network and CPU through the DevTools
// protocol, what a page load transfers, and when a room page shows, hydrates and goes
// live, timed inside the page.
import type { Browser, BrowserContext, CDPSession, Page } from '@playwright/test';

/** Issue 11's phone: 1.6 Mbit/s down, 750 kbit/s up, 150 ms latency (bytes per second). */
export const NETWORK = {
  offline: false,
  latency: 150,
  downloadThroughput: 1.6e6 / 8,
  uploadThroughput: 750e3 / 8,
};
/** The CPU, this many times slower than the machine's (the page's main thread only). */
export const CPU_SLOWDOWN = 4;
/** A phone's screen, so that the page lays out as it does on one. */
export const PHONE = {
  viewport: { width: 412, height: 915 },
  deviceScaleFactor: 2.625,
  isMobile: true,
  hasTouch: true,
};

/** Milliseconds from navigation start (the page's `performance.timeOrigin`). */
export type Marks = {
  /** The first message's text painted (Element Timing, see `probe`). */
  text?: number;
  /** First contentful paint: anything at all, the header or the sidebar included. */
  fcp?: number;
  /** The first message's text in the DOM, as the parser put it there. */
  textInDom?: number;
  /** The app runs: the message rows are focusable, which only the hydrated app makes
   * them (`tabindex` from the `Hydrated` signal, src/app/messages.rs). */
  hydrated?: number;
  /** The header's status first says something else than the server's `offline`: the
   * app's effects have run, after hydration. */
  running?: number;
  /** The page asked for its event stream (`new EventSource`). */
  streamAsked?: number;
  /** The event stream's `open` event. */
  streamOpen?: number;
  /** The header's status says `live`: the event stream is open. */
  live?: number;
};

/**
 * Runs in every document before its own scripts (`addInitScript`) and records `Marks`
 * in `window.__ttl`; `window.__ttlDone` resolves once hydrated and live. It adds an
 * `elementtiming` attribute to the first message's text (and the blocks in it, where
 * Chromium times text) as the parser inserts it, before its first paint, so that
 * Element Timing reports when that text was painted. `EventSource` is replaced by a
 * subclass that notes when the stream was asked for and opened, and does nothing else.
 * Nothing else on the page changes.
 */
export function probe(): void {
  const marks: Record<string, number> = {};
  let done: () => void = () => {};
  Object.assign(window, { __ttl: marks, __ttlDone: new Promise<void>((r) => (done = r)) });
  // Tagged again on every change until painted: the parser may insert the text's
  // blocks after the text itself.
  const tag = () => {
    const text = document.querySelector('.message-log .message .text');
    for (const element of text ? [text, ...text.querySelectorAll('*')] : []) {
      if (!element.hasAttribute('elementtiming')) element.setAttribute('elementtiming', 'first-message');
    }
    return text !== null;
  };
  const Source = window.EventSource;
  window.EventSource = class extends Source {
    constructor(url: string | URL, init?: EventSourceInit) {
      super(url, init);
      marks.streamAsked ??= performance.now();
      this.addEventListener('open', () => (marks.streamOpen ??= performance.now()));
    }
  };
  const status = () => document.querySelector('.room-header .status')?.textContent?.trim();
  const tests: Record<string, () => boolean> = {
    textInDom: tag,
    running: () => status() !== undefined && status() !== 'offline',
    hydrated: () => document.querySelector('.message-log .message[tabindex]') !== null,
    live: () => status() === 'live',
  };
  const observer = new MutationObserver(() => {
    const now = performance.now();
    if (!('text' in marks)) tag();
    for (const [name, test] of Object.entries(tests)) {
      if (!(name in marks) && test()) marks[name] = now;
    }
    if (Object.keys(tests).every((name) => name in marks)) {
      observer.disconnect();
      done();
    }
  });
  observer.observe(document, {
    subtree: true,
    childList: true,
    characterData: true,
    attributeFilter: ['tabindex'],
  });
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      // Element Timing's renderTime; startTime is the same where it is not exposed.
      const at = (entry as PerformanceEntry & { renderTime?: number }).renderTime || entry.startTime;
      if (!('text' in marks) || at < marks.text) marks.text = at;
    }
  }).observe({ type: 'element', buffered: true });
}

/** One request of a page load, as the network saw it. */
export type Transfer = {
  path: string;
  /** Bytes on the wire: headers and the body as sent (compressed, if it was). */
  bytes: number;
  /** Who asked: the page, or its service worker (fetching for the page, or for itself). */
  by: 'page' | 'worker';
  /** Served from the browser's HTTP cache (no bytes), or by the service worker (its own
   * request, from the network or the cache, is counted under `worker`). */
  from?: 'cache' | 'worker';
  encoding?: string;
};

/** The requests of one page load, from the protocol's Network events of the page and of
 * its service worker. The event stream is left out: it never finishes. */
export class Transfers {
  private readonly open = new Map<string, Transfer>();
  readonly finished: Transfer[] = [];

  handle(by: Transfer['by'], method: string, params: any): void {
    const key = `${by} ${params.requestId}`;
    if (method === 'Network.requestWillBeSent') {
      const url = new URL(params.request.url);
      if (params.type === 'EventSource' || url.pathname === '/api/events') return;
      if (!url.protocol.startsWith('http')) return;
      this.open.set(key, { path: url.pathname, bytes: 0, by });
    } else if (method === 'Network.responseReceived') {
      const transfer = this.open.get(key);
      if (!transfer) return;
      const { response } = params;
      if (response.fromServiceWorker) transfer.from = 'worker';
      else if (response.fromDiskCache || response.fromPrefetchCache) transfer.from = 'cache';
      const headers: Record<string, string> = response.headers ?? {};
      const encoding = Object.entries(headers).find(([name]) => name.toLowerCase() === 'content-encoding');
      if (encoding) transfer.encoding = encoding[1];
    } else if (method === 'Network.loadingFinished') {
      const transfer = this.open.get(key);
      if (!transfer) return;
      this.open.delete(key);
      // What the worker answered, it fetched itself; those bytes are the worker's.
      transfer.bytes = transfer.from === 'worker' ? 0 : params.encodedDataLength;
      this.finished.push(transfer);
    }
  }

  listen(cdp: CDPSession): void {
    for (const method of ['Network.requestWillBeSent', 'Network.responseReceived', 'Network.loadingFinished']) {
      cdp.on(method as 'Network.loadingFinished', (params) => this.handle('page', method, params));
    }
  }
}

/**
 * The bytes of `transfers`: those of the page (with what its worker fetched to answer
 * it), of its /pkg/ files (WASM, JS, CSS) alone, and of what the worker fetched for
 * itself (a copy to keep, `public/sw.js`). A worker's request counts for the page when
 * the page got an answer for that path from the worker.
 */
export function bytesOf(transfers: Transfer[]): { page: number; pkg: number; workerOwn: number } {
  const answered = transfers.filter((t) => t.by === 'page' && t.from === 'worker').map((t) => t.path);
  const forPage: Transfer[] = [];
  let workerOwn = 0;
  for (const t of transfers) {
    const i = t.by === 'worker' ? answered.indexOf(t.path) : -1;
    if (t.by === 'page' || i >= 0) forPage.push(t);
    else workerOwn += t.bytes;
    if (i >= 0) answered.splice(i, 1);
  }
  const sum = (list: Transfer[]) => list.reduce((total, t) => total + t.bytes, 0);
  return { page: sum(forPage), pkg: sum(forPage.filter((t) => t.path.includes('/pkg/'))), workerOwn };
}

/** Slows `page` down as the phone is. Its service worker is `Workers`' to slow. */
export async function throttle(page: Page): Promise<CDPSession> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', NETWORK);
  await cdp.send('Emulation.setCPUThrottlingRate', { rate: CPU_SLOWDOWN });
  return cdp;
}

/**
 * The service workers of one site, slowed down as the pages are, and their requests
 * handed to the current page load's `Transfers`.
 *
 * Network emulation is per DevTools target, and a service worker is a target of its
 * own: a page's emulation does not reach the fetches its worker makes for it, and this
 * app's worker fetches every page and /pkg/ file it answers (network first,
 * `public/sw.js`). Unslowed, a warm load's HTML came at full speed (measured: 17 ms
 * instead of 150 ms and more). So every worker of the site is attached as it starts and
 * slowed too, as DevTools' own throttling does. Its CPU cannot be (`Emulation` is for
 * pages only); it does little. A browser-level session may auto-attach only in the flat
 * protocol, which Playwright's `CDPSession` cannot address, so workers are attached one
 * by one and spoken to through `Target.sendMessageToTarget`.
 *
 * A worker with DevTools attached (Playwright's, and these) is not stopped when idle,
 * so a warm load finds it running: the worker's start-up is not in the figures.
 */
export class Workers {
  private nextId = 1;
  private readonly replies = new Map<number, (reply: any) => void>();
  private readonly attached = new Map<string, string>();
  /** The page load whose requests these are, if one is under way. */
  sink?: Transfers;

  private constructor(
    private readonly cdp: CDPSession,
    private readonly origin: string,
  ) {}

  static async watch(browser: Browser, origin: string): Promise<Workers> {
    const cdp = await browser.newBrowserCDPSession();
    const workers = new Workers(cdp, origin);
    cdp.on('Target.targetCreated', ({ targetInfo }) => void workers.attach(targetInfo));
    cdp.on('Target.targetDestroyed', ({ targetId }) => workers.attached.delete(targetId));
    cdp.on('Target.receivedMessageFromTarget', ({ message }) => workers.receive(message));
    await cdp.send('Target.setDiscoverTargets', { discover: true });
    return workers;
  }

  /** How many workers of the site are running, slowed. */
  get running(): number {
    return this.attached.size;
  }

  private async attach(target: { targetId: string; type: string; url: string }): Promise<void> {
    if (target.type !== 'service_worker' || !target.url.startsWith(this.origin)) return;
    try {
      const { sessionId } = await this.cdp.send('Target.attachToTarget', {
        targetId: target.targetId,
        flatten: false,
      });
      await this.send(sessionId, 'Network.enable');
      await this.send(sessionId, 'Network.emulateNetworkConditions', NETWORK);
      this.attached.set(target.targetId, sessionId);
    } catch {
      // Gone already: its context was closed.
    }
  }

  private async send(sessionId: string, method: string, params: object = {}): Promise<any> {
    const id = this.nextId++;
    const reply = new Promise<any>((resolve) => this.replies.set(id, resolve));
    await this.cdp.send('Target.sendMessageToTarget', {
      sessionId,
      message: JSON.stringify({ id, method, params }),
    });
    const { error, result } = await reply;
    if (error) throw new Error(`${method}: ${error.message}`);
    return result;
  }

  private receive(message: string): void {
    const reply = JSON.parse(message);
    const { id, method, params } = reply;
    if (id !== undefined) {
      this.replies.get(id)?.(reply);
      this.replies.delete(id);
    } else if (method?.startsWith('Network.')) {
      this.sink?.handle('worker', method, params);
    }
  }

  async detach(): Promise<void> {
    await this.cdp.detach();
  }
}

/** What one load of a room page measured. */
export type Load = Marks & {
  /** The page's HTML received in full (the navigation's `responseEnd`). */
  html?: number;
  /** Bytes transferred until the page was live (`bytesOf`). */
  bytes: number;
  pkgBytes: number;
  workerOwnBytes: number;
  /** Requests that finished by then, and in the second after. */
  transfers: Transfer[];
  later: Transfer[];
  /** Whether the service worker answered the navigation. */
  viaWorker: boolean;
  /** Whether the page showed the composer, as to a person signed in. */
  signedIn: boolean;
  problems: string[];
};

/** Loads `url` in a new page of `context` on the slow phone and measures it; the page
 * is closed after. `context` must have `probe` as an init script. */
export async function load(context: BrowserContext, url: string, workers: Workers): Promise<Load> {
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (message) => {
    if (message.text().includes('panicked')) problems.push(message.text());
  });
  page.on('pageerror', (error) => problems.push(error.message));
  const transfers = new Transfers();
  const cdp = await throttle(page);
  transfers.listen(cdp);
  workers.sink = transfers;
  try {
    await page.goto(url, { waitUntil: 'commit' });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      page.evaluate(() => (window as any).__ttlDone),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${url}: not hydrated and live within 60 s`)), 60_000);
      }),
    ]).finally(() => clearTimeout(timer));
    // What had finished when the page went live (as heard here, a few ms later).
    const untilLive = [...transfers.finished];
    await page.waitForTimeout(1_000);
    const seen = await page.evaluate(() => {
      const navigation = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming;
      return {
        marks: (window as any).__ttl as Record<string, number>,
        fcp: performance.getEntriesByName('first-contentful-paint')[0]?.startTime,
        html: navigation.responseEnd,
        viaWorker: navigation.workerStart > 0,
        signedIn: document.querySelector('.composer textarea') !== null,
      };
    });
    const bytes = bytesOf(untilLive);
    return {
      ...seen.marks,
      fcp: seen.fcp,
      html: seen.html,
      bytes: bytes.page,
      pkgBytes: bytes.pkg,
      workerOwnBytes: bytes.workerOwn,
      transfers: untilLive,
      later: transfers.finished.slice(untilLive.length),
      viaWorker: seen.viaWorker,
      signedIn: seen.signedIn,
      problems,
    };
  } finally {
    workers.sink = undefined;
    await page.close();
  }
}

/**
 * How fast this machine's Chromium runs script, as Lighthouse measures it, unslowed and
 * under `CPU_SLOWDOWN`. The slowdown is relative to the machine, so the same bench
 * emulates a faster phone on a fast machine and a slower one on a slow machine; these
 * two figures say which phone a run had (Lighthouse's table: a Moto G4, its mid-tier
 * phone, is 125–800; a desktop 1,000 and up). Measured in a blank page of a context of
 * its own, before the loads.
 */
export async function benchmarkIndex(browser: Browser): Promise<{ host: number; phone: number }> {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    const measure = () => page.evaluate(computeBenchmarkIndex);
    await measure(); // V8 warms up
    const host = await measure();
    await cdp.send('Emulation.setCPUThrottlingRate', { rate: CPU_SLOWDOWN });
    const phone = await measure();
    return { host: Math.round(host), phone: Math.round(phone) };
  } finally {
    await context.close();
  }
}

// `computeBenchmarkIndex` from Lighthouse, core/lib/page-functions.js (Apache License
// 2.0): the mean of a GC-heavy index (building a string of 10,000 characters) and one
// without GC (copying an array of 100,000 numbers), iterations / 10 per second, each for
// half a second. Lighthouse reports it with every run for the same reason.
function computeBenchmarkIndex(): number {
  function benchmarkIndexGC() {
    const start = Date.now();
    let iterations = 0;
    while (Date.now() - start < 500) {
      let s = '';
      for (let j = 0; j < 10000; j++) s += 'a';
      if (s.length === 1) throw new Error('will never happen, but prevents compiler optimizations');
      iterations++;
    }
    return Math.round(iterations / 10 / ((Date.now() - start) / 1000));
  }
  function benchmarkIndexNoGC() {
    const arrA: number[] = [];
    const arrB: number[] = [];
    for (let i = 0; i < 100000; i++) arrA[i] = arrB[i] = i;
    const start = Date.now();
    let iterations = 0;
    while (iterations % 10 !== 0 || Date.now() - start < 500) {
      const src = iterations % 2 === 0 ? arrA : arrB;
      const tgt = iterations % 2 === 0 ? arrB : arrA;
      for (let j = 0; j < src.length; j++) tgt[j] = src[j];
      iterations++;
    }
    return Math.round(iterations / 10 / ((Date.now() - start) / 1000));
  }
  return (benchmarkIndexGC() + benchmarkIndexNoGC()) / 2;
}
