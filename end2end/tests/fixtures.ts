// Real servers for the specs: the release binary built by `cargo leptos build
// --release`, on free ports, on a real Redis under a key prefix of the test's own.
import {
  test as base,
  expect,
  type APIRequestContext,
  type Page,
  type BrowserContext,
  request,
} from '@playwright/test';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(__dirname, '..', '..');
const targetDir = process.env.CARGO_TARGET_DIR ?? path.join(root, 'target');
const serverBinary = process.env.TINY_CHAT_BIN ?? path.join(targetDir, 'release', 'tiny-chat');
const siteRoot = path.join(root, 'target', 'site');
export const redisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * The next port of this worker's own range. Each Playwright worker (a process of its own)
 * draws from a range no other worker uses: a port that `listen(0)` had just found free
 * could be handed to two workers at once, and then the second server, unable to bind it,
 * exits while its `/readyz` is answered by the first one's, until that one stops.
 */
let nextPort = 20_000 + 500 * Number(process.env.TEST_PARALLEL_INDEX ?? 0);

async function freePort(): Promise<number> {
  for (;;) {
    const port = nextPort++;
    if (await canListen(port)) return port;
  }
}

/** Whether nothing listens on `port` (of 127.0.0.1) now. */
function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** One server process; stop() and start() again keep its port, prefix and secret. */
export class ChatNode {
  private process?: ChildProcess;
  /** The data folder of a node without Redis, kept across stop() and start(). */
  private dataDir?: string;

  constructor(
    readonly port: number,
    private readonly prefix: string,
    private readonly secret: string,
    private readonly env: Record<string, string> = {},
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const env: Record<string, string | undefined> = {
      ...process.env,
      LEPTOS_SITE_ADDR: `127.0.0.1:${this.port}`,
      LEPTOS_SITE_ROOT: siteRoot,
      REDIS_URL: redisUrl,
      CHAT_REDIS_PREFIX: this.prefix,
      CHAT_SECRET: this.secret,
      RUST_LOG: 'warn',
      // Specs post hundreds of messages through the API from one session.
      CHAT_POST_RATE: '0',
      // Redis carries what is live; on Redis the specs keep nothing else.
      CHAT_DATABASE_URL: 'none',
      ...this.env,
    };
    // `REDIS_URL: ''` asks for one node on its own, as `scripts/run` starts it: SQLite in
    // a data folder of its own, kept across a restart of the node.
    if (env.REDIS_URL === '') {
      delete env.REDIS_URL;
      if (!('CHAT_DATABASE_URL' in this.env)) {
        delete env.CHAT_DATABASE_URL;
        this.dataDir ??= mkdtempSync(path.join(os.tmpdir(), 'tiny-chat-e2e-'));
        env.CHAT_DATA_DIR = this.dataDir;
      }
    }
    this.process = spawn(serverBinary, [], { env, stdio: ['ignore', 'inherit', 'inherit'] });
    const deadline = Date.now() + 10_000;
    for (;;) {
      const exited = this.process.exitCode ?? this.process.signalCode;
      if (exited !== null) throw new Error(`${serverBinary} exited (${exited}) before it was ready`);
      try {
        const response = await fetch(`${this.url}/readyz`);
        if (response.ok) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`${serverBinary} did not become ready`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Kills the process with SIGKILL, as a crash would, and waits for it to exit. */
  kill(): Promise<void> {
    return this.end('SIGKILL');
  }

  /** Stops the process as SIGTERM does, and waits for it to exit. */
  stop(): Promise<void> {
    return this.end('SIGTERM');
  }

  /** Stops the process and removes its data folder. */
  async remove(): Promise<void> {
    await this.stop();
    if (this.dataDir) rmSync(this.dataDir, { recursive: true, force: true });
  }

  private async end(signal: NodeJS.Signals): Promise<void> {
    const child = this.process;
    this.process = undefined;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    await exited;
  }
}

/**
 * A TCP front for several nodes, as a load balancer is: each new connection goes to the
 * first node that accepts it, so when one dies, browsers reconnect to the next.
 */
export class Front {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    readonly port: number,
    private readonly nodes: ChatNode[],
  ) {
    this.server = net.createServer((client) => this.forward(client, 0));
  }

  static async start(nodes: ChatNode[]): Promise<Front> {
    const front = new Front(await freePort(), nodes);
    await new Promise<void>((resolve) => front.server.listen(front.port, '127.0.0.1', resolve));
    return front;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  private forward(client: net.Socket, index: number): void {
    const node = this.nodes[index];
    if (!node) {
      client.destroy();
      return;
    }
    const upstream = net.connect(node.port, '127.0.0.1');
    let connected = false;
    upstream.once('error', () => {
      // Refused (the node is down): try the next one. Cut later: the client sees it cut.
      if (connected) client.destroy();
      else this.forward(client, index + 1);
    });
    upstream.once('connect', () => {
      connected = true;
      this.sockets.add(client).add(upstream);
      client.pipe(upstream).pipe(client);
      const close = () => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      client.once('close', close).once('error', close);
      upstream.once('close', close);
    });
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

/** The servers of one test, sharing a Redis prefix and a session secret. */
export class Chat {
  readonly prefix = `e2e-${randomUUID()}`;
  private readonly secret = randomUUID();
  private readonly nodes: ChatNode[] = [];

  /** Starts a node; `env` adds settings such as CHAT_HISTORY_LIMIT (`REDIS_URL: ''` for
   * one node on SQLite in a folder of its own, as `scripts/run` starts it). */
  async node(env: Record<string, string> = {}): Promise<ChatNode> {
    const node = new ChatNode(await freePort(), this.prefix, this.secret, env);
    this.nodes.push(node);
    await node.start();
    return node;
  }

  async close(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.remove()));
    const keys = execFileSync('redis-cli', ['-u', redisUrl, '--scan', '--pattern', `${this.prefix}:*`])
      .toString()
      .split('\n')
      .filter(Boolean);
    if (keys.length > 0) execFileSync('redis-cli', ['-u', redisUrl, 'del', ...keys]);
  }
}

/** Panics the WASM printed in any page this test opened with `openRoom`. */
const panics: string[] = [];

/**
 * The sessions of this test, by name. A name is held by one session at a time, so a
 * test that posts as `ann` through the API and opens a browser as `ann` shares one
 * session between them, as one person on two devices would sign in once per device.
 */
const sessions = new Map<string, APIRequestContext>();
const ownContexts: APIRequestContext[] = [];

export const test = base.extend<{ chat: Chat }>({
  chat: async ({}, use) => {
    panics.length = 0;
    sessions.clear();
    const chat = new Chat();
    await use(chat);
    await Promise.all(ownContexts.splice(0).map((api) => api.dispose()));
    await chat.close();
    expect(panics, 'the client panicked').toEqual([]);
  },
});

export { expect };

/** Where browsers reach the chat: a node, or a front for several. */
export type Site = { readonly url: string };

/** Signs a browser context in through the API (the page shares its cookies), or hands it
 * the session this test already holds for that name. */
export async function signIn(context: BrowserContext, node: Site, name: string): Promise<void> {
  const existing = sessions.get(name);
  if (existing) {
    await context.addCookies((await existing.storageState()).cookies);
    return;
  }
  const response = await context.request.post(`${node.url}/api/session`, { data: { name } });
  expect(response.status()).toBe(200);
  sessions.set(name, context.request);
}

/** The API session of `name` in this test, signing in on `node` the first time. */
async function apiAs(node: Site, name: string): Promise<APIRequestContext> {
  let api = sessions.get(name);
  if (!api) {
    api = await request.newContext();
    ownContexts.push(api);
    const response = await api.post(`${node.url}/api/session`, { data: { name } });
    expect(response.status(), `signing in as ${name}`).toBe(200);
    sessions.set(name, api);
  }
  return api;
}

/** Posts as `name` through the JSON API, from outside any browser. */
export async function postAs(node: Site, name: string, room: string, texts: string[]): Promise<void> {
  const api = await apiAs(node, name);
  for (const text of texts) {
    const response = await api.post(`${node.url}/api/rooms/${room}/messages`, { data: { text } });
    expect(response.status(), text).toBe(201);
  }
}

/**
 * Opens a room and waits until it is live (hydrated, with its stream open) and its
 * parts are mounted: the rows, the composer, the sidebars (src/app/later.rs). Until
 * then the server's HTML shows them, and its message box is a plain form's, where
 * Enter is a new line.
 */
export async function openRoom(page: Page, node: Site, room: string): Promise<void> {
  page.on('console', (message) => {
    if (message.text().includes('panicked')) panics.push(message.text());
  });
  await page.goto(`${node.url}/r/${room}`);
  await expect(connection(page)).toHaveText('live');
  await partsMounted(page);
}

/** Waits until the room's live parts are in (mounted together, the rows among them). */
/** The message box of a room page. */
export function composer(page: Page) {
  return page.getByRole('textbox', { name: 'Message' });
}

/** Types `text` and sends it with Enter: the box empties (it may wait in the outbox). */
export async function say(page: Page, text: string): Promise<void> {
  await composer(page).fill(text);
  await composer(page).press('Enter');
  await expect(composer(page)).toHaveValue('');
}

export async function partsMounted(page: Page): Promise<void> {
  await expect(page.locator('.message-log[role="log"]')).toBeAttached();
}

/** The texts shown in the message log, in order. */
export function messageTexts(page: Page) {
  return page.locator('.message-log .message .text');
}

/** The room header's connection indicator. */
export function connection(page: Page) {
  return page.locator('.room-header .status');
}

/**
 * Waits until the service worker controls `page` and holds it, and the /pkg assets it
 * loads, so that a reload works offline. The first load is controlled only once the
 * worker claims it, and the page hands the worker its URL and assets once it is ready.
 */
export async function untilCached(page: Page): Promise<void> {
  await page.waitForFunction(() => navigator.serviceWorker?.controller != null, undefined, {
    timeout: 10_000,
  });
  // `waitForFunction` does not await a promise, so the caches are polled from here. The
  // worker keeps a page by its URL and a /pkg file by its path.
  const missing = () =>
    page.evaluate(async () => {
      const files = [...document.querySelectorAll('link[href^="/pkg/"], script[src^="/pkg/"]')].map((el) => {
        const url = new URL(el.getAttribute('href') ?? el.getAttribute('src') ?? '', location.href);
        return url.origin + url.pathname;
      });
      const wanted = [location.origin + location.pathname + location.search, ...files];
      const kept = await Promise.all(wanted.map((url) => caches.match(url, { ignoreVary: true })));
      return wanted.filter((_, i) => kept[i] === undefined);
    });
  await expect.poll(missing, { message: 'the page and its assets are cached', timeout: 10_000 }).toEqual([]);
}

/**
 * Leaves `page` on room `busy` of node A, stopped, while node B takes 250 posts: more
 * than history holds (5), so A's page gets `resync` once A is started again.
 */
export async function awayPastHistory(page: Page, chat: Chat): Promise<{ a: ChatNode; b: ChatNode }> {
  const limit = { CHAT_HISTORY_LIMIT: '5' };
  const a = await chat.node(limit);
  const b = await chat.node(limit);
  await postAs(a, 'ann', 'busy', ['old 1', 'old 2']);
  await signIn(page.context(), a, 'watcher');
  await openRoom(page, a, 'busy');
  await expect(messageTexts(page)).toHaveText(['old 1', 'old 2']);

  await a.stop();
  await expect(connection(page)).toHaveText(/reconnecting|offline/);
  await postAs(b, 'bea', 'busy', Array.from({ length: 250 }, (_, i) => `busy ${i}`));
  return { a, b };
}
