// The tabs of one browser as a person sees them: however many are open, they share one
// event stream (one tab leads and holds it, the others follow), another tab takes over
// when the leader closes, and what is sent while offline waits in an outbox until it can
// go, once.
import type { Browser, Page, Route } from '@playwright/test';
import { test, expect, composer, say, signIn, postAs, openRoom, messageTexts, connection, untilCached, type Site } from './fixtures';

const MESSAGES = '**/api/rooms/*/messages';

/** Bob, in a browser of his own, live in `room`. */
async function bobIn(browser: Browser, node: Site, room: string): Promise<Page> {
  const bob = await (await browser.newContext()).newPage();
  await signIn(bob.context(), node, 'bob');
  await openRoom(bob, node, room);
  return bob;
}

/** The texts of the unsent messages under the log, in order; only those in `state` if given. */
function unsent(page: Page, state?: 'waiting' | 'failed') {
  const item = state ? `li.outbox-item[data-state="${state}"]` : 'li.outbox-item';
  return page.locator(`ol.outbox > ${item} .outbox-text`);
}

/** The unsent message whose text is `text`. */
function unsentItem(page: Page, text: string) {
  return page.locator('ol.outbox > li.outbox-item').filter({
    has: page.locator('.outbox-text', { hasText: text }),
  });
}

/** The header's count of unsent messages (hidden when there are none). */
function outboxCount(page: Page) {
  return page.locator('.room-header .outbox-count');
}

/** `texts` wait to be sent, in order, and none of them is in the log (which is empty
 * in these tests until something is sent). */
async function expectWaiting(page: Page, texts: string[]): Promise<void> {
  await expect(unsent(page, 'waiting')).toHaveText(texts);
  await expect(unsent(page)).toHaveCount(texts.length);
  await expect(outboxCount(page)).toHaveText(`${texts.length} waiting`);
  await expect(messageTexts(page)).toHaveCount(0);
}

/** Each page's part in its browser's shared stream, as its header says. */
function roles(pages: Page[]): Promise<(string | null)[]> {
  return Promise.all(pages.map((page) => connection(page).getAttribute('data-role')));
}

/** Waits until exactly one of `pages` leads and the others follow; the leader. */
async function settledLeader(pages: Page[]): Promise<Page> {
  const followers = pages.slice(1).map(() => 'follower');
  await expect
    .poll(async () => (await roles(pages)).sort(), { message: 'one tab leads, the others follow' })
    .toEqual([...followers, 'leader']);
  return pages[(await roles(pages)).indexOf('leader')];
}

/** The node's `chat_sse_connections` gauge: the event streams open on it now. Each test
 * has nodes of its own, so these are this test's streams. */
async function openStreams(node: Site): Promise<number> {
  const response = await fetch(`${node.url}/metrics`);
  expect(response.status, '/metrics answers clients on loopback').toBe(200);
  const gauge = /^chat_sse_connections(?:\{[^}]*\})? (\S+)$/m.exec(await response.text());
  return gauge ? Number(gauge[1]) : 0;
}

/** The texts of a room's history as the API gives it, oldest first. */
async function roomTexts(node: Site, room: string): Promise<string[]> {
  const response = await fetch(`${node.url}/api/rooms/${room}/messages?limit=200`);
  expect(response.status).toBe(200);
  const messages = (await response.json()) as { text: string }[];
  return messages.map((message) => message.text);
}

/** A response in the API's error shape (`{"error":{"code","message"}}`, as API.md has it). */
function apiError(status: number, code: string, message: string) {
  return { status, contentType: 'application/json', body: JSON.stringify({ error: { code, message } }) };
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('eight tabs in eight rooms share one stream, and a ninth still loads', async ({ context, chat }) => {
  // Pings every second, so a stream the browser closed is counted out at once.
  const node = await chat.node({ CHAT_KEEPALIVE_SECS: '1' });
  const rooms = Array.from({ length: 8 }, (_, i) => `eight-${i + 1}`);
  const tabs: Page[] = [];
  for (const room of rooms) {
    const page = await context.newPage();
    await openRoom(page, node, room);
    tabs.push(page);
  }
  await settledLeader(tabs);
  await expect
    .poll(() => openStreams(node), { message: 'one stream for the browser', timeout: 10_000 })
    .toBe(1);

  // A message in each room shows in its tab at once.
  for (const [i, page] of tabs.entries()) {
    await postAs(node, 'ann', rooms[i], [`hello ${rooms[i]}`]);
    await expect(messageTexts(page)).toHaveText([`hello ${rooms[i]}`], { timeout: 2_000 });
  }

  // Eight streams of their own would be more than the six connections the browser opens
  // to one server; with one between them, another page still loads.
  const ninth = await context.newPage();
  await openRoom(ninth, node, 'eight-9');
  await postAs(node, 'ann', 'eight-9', ['hello eight-9']);
  await expect(messageTexts(ninth)).toHaveText(['hello eight-9'], { timeout: 2_000 });
  await settledLeader([...tabs, ninth]);
  await expect.poll(() => openStreams(node), { message: 'still one stream for the browser' }).toBe(1);
});

test('a room page asks for its stream before the app runs, and that one stream brings each message once', async ({ page, chat }) => {
  // Pings every second, so a stream the browser closed is counted out at once.
  const node = await chat.node({ CHAT_KEEPALIVE_SECS: '1' });
  await postAs(node, 'ann', 'early', ['one', 'two']);
  // In every tab: each stream it asked for, and what the header said then (the server's
  // `offline` until the app runs; after that, `connecting`).
  await page.context().addInitScript(() => {
    const asked: string[] = [];
    const sources: EventSource[] = [];
    Object.assign(window, { __asked: asked, __sources: sources });
    const Source = window.EventSource;
    window.EventSource = class extends Source {
      constructor(url: string | URL, init?: EventSourceInit) {
        super(url, init);
        asked.push(document.querySelector('.room-header .status')?.textContent?.trim() ?? '');
        sources.push(this);
      }
    };
  });
  const streams: string[] = [];
  page.on('request', (request) => {
    if (new URL(request.url()).pathname === '/api/events') streams.push(request.url());
  });
  await openRoom(page, node, 'early');
  await expect(connection(page)).toHaveText('live');
  await postAs(node, 'ann', 'early', ['three']);
  await expect(messageTexts(page)).toHaveText(['one', 'two', 'three']);
  expect(await page.evaluate(() => (window as any).__asked), 'asked for before the app ran').toEqual(['offline']);
  expect(streams, 'one stream, resuming after the newest message shown').toHaveLength(1);
  expect(new URL(streams[0]).searchParams.get('rooms')).toMatch(/^early:\d+-\d+$/);
  // A second tab follows: the stream it asked for early is closed as soon as it hears
  // the leader, not at that stream's own 5 s limit. A follower says `live` only from the
  // leader's note, so by then its early stream is closed. One stream is left.
  const second = await page.context().newPage();
  await openRoom(second, node, 'early');
  const follower = (await settledLeader([page, second])) === page ? second : page;
  await expect(connection(follower)).toHaveText('live');
  const early = await follower.evaluate(() =>
    (window as any).__sources.map((source: EventSource) => source.readyState),
  );
  expect(early, "the follower's early stream, closed on hearing the leader").toEqual([2]); // CLOSED
  await expect
    .poll(() => openStreams(node), { message: 'one stream for the browser', timeout: 10_000 })
    .toBe(1);
  await postAs(node, 'ann', 'early', ['four']);
  for (const tab of [page, second]) await expect(messageTexts(tab)).toHaveText(['one', 'two', 'three', 'four']);
});

test('the leader tab closes while messages flow: another leads, and no tab misses or repeats one', async ({ context, chat }) => {
  const node = await chat.node();
  const tabs = [
    { page: await context.newPage(), room: 'deck' },
    { page: await context.newPage(), room: 'deck' },
    { page: await context.newPage(), room: 'yard' },
  ];
  for (const { page, room } of tabs) await openRoom(page, node, room);
  const leader = await settledLeader(tabs.map((tab) => tab.page));

  // Numbered messages to both rooms, a round every ~100 ms, before and after it closes.
  const sent: Record<string, string[]> = { deck: [], yard: [] };
  let round = 0;
  const flow = async (rounds: number) => {
    for (let i = 0; i < rounds; i++) {
      round += 1;
      for (const room of ['deck', 'yard']) {
        await postAs(node, 'ann', room, [`${room} ${round}`]);
        sent[room].push(`${room} ${round}`);
      }
      await pause(100);
    }
  };
  await flow(10);
  await Promise.all([leader.close(), flow(20)]);

  // Within 2 s of the last post, every tab left shows all of its room, once, in order.
  const survivors = tabs.filter((tab) => tab.page !== leader);
  await Promise.all(
    survivors.map(({ page, room }) => expect(messageTexts(page)).toHaveText(sent[room], { timeout: 2_000 })),
  );
  await settledLeader(survivors.map((tab) => tab.page));
});

/**
 * Alice, offline in `porch`, sends three messages from the first of `tabs` (all hers, in
 * one browser) and reloads it; back online, the three arrive once each, in order, in
 * every tab of hers, for bob, and in the room's history.
 */
async function offlineThree(tabs: Page[], bob: Page, node: Site): Promise<void> {
  const [typing] = tabs;
  await untilCached(typing);
  await typing.context().setOffline(true);
  for (const page of tabs) await expect(connection(page)).toHaveText('offline');
  const texts = ['on the train', 'tunnel ahead', 'back in five'];
  for (const text of texts) await say(typing, text);
  await expectWaiting(typing, texts);

  // The page reloads from the service worker's cache, and they are still there.
  await typing.reload();
  await expectWaiting(typing, texts);
  await expect(connection(typing)).toHaveText('offline');

  await typing.context().setOffline(false);
  for (const page of tabs) {
    await expect(messageTexts(page)).toHaveText(texts, { timeout: 10_000 });
    await expect(unsent(page)).toHaveCount(0);
    await expect(outboxCount(page)).toBeHidden();
  }
  await expect(messageTexts(bob)).toHaveText(texts);
  expect(await roomTexts(node, 'porch')).toEqual(texts);
}

test('offline, alice\'s messages wait in the outbox, outlast a reload, and arrive once when she is back', async ({ page, browser, chat }) => {
  const node = await chat.node();
  const bob = await bobIn(browser, node, 'porch');
  await signIn(page.context(), node, 'alice');
  await openRoom(page, node, 'porch');
  await offlineThree([page], bob, node);
  await bob.context().close();
});

test('offline with two tabs in the room, what alice sends arrives once in each tab', async ({ context, browser, chat }) => {
  const node = await chat.node();
  const bob = await bobIn(browser, node, 'porch');
  await signIn(context, node, 'alice');
  const tabs = [await context.newPage(), await context.newPage()];
  for (const page of tabs) await openRoom(page, node, 'porch');
  await offlineThree(tabs, bob, node);
  await bob.context().close();
});

// The routes below see the page's posts because the service worker leaves `/api` to the
// network (it caches pages and /pkg only); Playwright does not see what a worker answers.
test('a message the server refuses stays in the outbox, marked failed with the reason, until cancelled', async ({ page, chat }) => {
  const node = await chat.node();
  await signIn(page.context(), node, 'alice');
  await openRoom(page, node, 'strict');
  const reason = 'text must be at most 2000 characters';
  await page.context().route(MESSAGES, (route) =>
    route.request().method() === 'POST'
      ? route.fulfill(apiError(422, 'invalid_message', reason))
      : route.fallback(),
  );

  await say(page, 'too long, says the server');
  const item = unsentItem(page, 'too long, says the server');
  await expect(item).toHaveAttribute('data-state', 'failed');
  await expect(item.locator('.outbox-status')).toContainText(reason);
  await expect(messageTexts(page)).toHaveCount(0);

  await item.getByRole('button').filter({ hasText: 'Cancel' }).click();
  await expect(unsent(page)).toHaveCount(0);
  await expect(outboxCount(page)).toBeHidden();
  expect(await roomTexts(node, 'strict')).toEqual([]);
});

test('a post that meets 503 keeps waiting, and goes once the server is back', async ({ page, chat }) => {
  const node = await chat.node();
  await signIn(page.context(), node, 'alice');
  await openRoom(page, node, 'patient');
  let refused = 0;
  const unavailable = async (route: Route) => {
    if (route.request().method() !== 'POST') return route.fallback();
    refused += 1;
    await route.fulfill(
      apiError(503, 'unavailable', 'the message broker is unavailable; nothing was stored or published'),
    );
  };
  await page.context().route(MESSAGES, unavailable);

  await say(page, 'anyone there?');
  await expect.poll(() => refused).toBeGreaterThan(0);
  // A 503 is worth trying again: a moment after it, the message still waits.
  await page.waitForTimeout(1_000);
  await expectWaiting(page, ['anyone there?']);

  // The server is back; coming online again sends it, once.
  await page.context().unroute(MESSAGES, unavailable);
  await page.context().setOffline(true);
  await expect(connection(page)).toHaveText('offline');
  await page.context().setOffline(false);
  await expect(messageTexts(page)).toHaveText(['anyone there?'], { timeout: 10_000 });
  await expect(unsent(page)).toHaveCount(0);
  await expect(outboxCount(page)).toBeHidden();
  expect(await roomTexts(node, 'patient')).toEqual(['anyone there?']);
});

test('offline, Edit takes a waiting message back into the box and Cancel drops one: neither is posted', async ({ page, chat }) => {
  const node = await chat.node();
  await signIn(page.context(), node, 'alice');
  await openRoom(page, node, 'drafts');
  await page.context().setOffline(true);
  await expect(connection(page)).toHaveText('offline');
  await say(page, 'first draft');
  await say(page, 'second thought');
  await expectWaiting(page, ['first draft', 'second thought']);

  await unsentItem(page, 'first draft').getByRole('button').filter({ hasText: 'Edit' }).click();
  await expect(composer(page)).toHaveValue('first draft');
  await expect(unsent(page)).toHaveText(['second thought']);
  await unsentItem(page, 'second thought').getByRole('button').filter({ hasText: 'Cancel' }).click();
  await expect(unsent(page)).toHaveCount(0);
  await expect(outboxCount(page)).toBeHidden();

  // Back online nothing goes out by itself: what she sends now is the room's only
  // message (the outbox sends in order, so anything left in it would come first).
  await page.context().setOffline(false);
  await expect(connection(page)).toHaveText('live', { timeout: 10_000 });
  expect(await roomTexts(node, 'drafts')).toEqual([]);
  await say(page, 'first draft, fixed');
  await expect(messageTexts(page)).toHaveText(['first draft, fixed']);
  expect(await roomTexts(node, 'drafts')).toEqual(['first draft, fixed']);
});

test('signing out in one tab signs the other tabs out too, and a name signed in shows everywhere', async ({ context, chat }) => {
  const node = await chat.node();
  await signIn(context, node, 'dora');
  const here = await context.newPage();
  const there = await context.newPage();
  await openRoom(here, node, 'hall');
  await openRoom(there, node, 'hall');
  await expect(there.locator('.room-header .identity .me')).toHaveText('dora');

  await here.locator('.room-header .identity summary').click();
  await here.getByRole('button', { name: 'Sign out' }).click();
  await expect(here.getByLabel('Pick a name to join the conversation')).toBeVisible();
  // The other tab was not touched: it hears of it, and can no longer type as dora.
  await expect(there.getByLabel('Pick a name to join the conversation')).toBeVisible();
  await expect(composer(there)).toHaveCount(0);

  await there.getByLabel('Pick a name to join the conversation').fill('edna');
  await there.getByLabel('Pick a name to join the conversation').press('Enter');
  await expect(there.locator('.room-header .identity .me')).toHaveText('edna');
  await expect(here.locator('.room-header .identity .me')).toHaveText('edna');
});

// The server's rows are replaced by live ones once the stream is open; with no stream
// they still are, a moment later, so that a room read offline keeps its buttons.
test('offline, a room reloaded from the cache still offers what can be done with a message', async ({ page, chat }) => {
  const node = await chat.node();
  await postAs(node, 'bob', 'attic', ['up here']);
  await signIn(page.context(), node, 'alice');
  await openRoom(page, node, 'attic');
  await untilCached(page);
  await page.context().setOffline(true);
  await page.reload();
  await expect(connection(page)).toHaveText('offline');
  const row = page.locator('.message-log .message').filter({ hasText: 'up here' });
  await expect(row).toHaveCount(1);
  // The live rows are in (the log is a live region only then), without a stream.
  await expect(page.getByRole('log')).toHaveCount(1);
  await expect(connection(page)).toHaveText('offline');
  await expect(row).toHaveCount(1);
  await row.hover();
  await expect(row.getByRole('button', { name: 'Add reaction' })).toBeVisible();
});
