// A session that ends outside the page (a sign-out from another device or without
// JavaScript, a cookie gone, a hold the server forgot) takes with it what the browser kept
// for it: the messages waiting in the outbox, which are never sent, not even by whoever
// signs in next under the same name, and the pages kept for offline reloads, which showed
// it signed in. The page learns it from a `401`, or by being shown signed out
// (src/app/outbox/signed.rs).
import { request, type BrowserContext, type Page } from '@playwright/test';
import { test, expect, composer, say, signIn, openRoom, messageTexts, connection, untilCached, type Site } from './fixtures';

/** The texts of the unsent messages under the log, in order. */
function unsent(page: Page) {
  return page.locator('ol.outbox > li.outbox-item .outbox-text');
}

/** The form a signed-out page offers in place of the message box. */
function signInForm(page: Page) {
  return page.getByLabel('Pick a name to join the conversation');
}

/** The name the header shows signed in. */
function shownName(page: Page) {
  return page.locator('.room-header .identity .me');
}

/** The texts of a room's history as the API gives it, oldest first. */
async function roomTexts(node: Site, room: string): Promise<string[]> {
  const response = await fetch(`${node.url}/api/rooms/${room}/messages?limit=200`);
  expect(response.status).toBe(200);
  return ((await response.json()) as { text: string }[]).map((message) => message.text);
}

/** What the browser keeps in localStorage under `key` (`tiny-chat:outbox`, ...). */
function stored(page: Page, key: string): Promise<string | null> {
  return page.evaluate((key) => localStorage.getItem(key), key);
}

/** The paths of the pages (not /pkg files) the service worker keeps for offline reloads. */
function offlinePages(page: Page): Promise<string[]> {
  return page.evaluate(async () => {
    const paths: string[] = [];
    for (const name of await caches.keys()) {
      for (const kept of await (await caches.open(name)).keys()) {
        const path = new URL(kept.url).pathname;
        if (!path.includes('/pkg/')) paths.push(path);
      }
    }
    return paths;
  });
}

/** Ends the session of `context` from outside it, as a sign-out from another device (or a
 * no-JS form) does: `DELETE /api/session` with its cookie. The browser keeps the cookie,
 * which no longer works: the server forgot its hold. */
async function signOutElsewhere(context: BrowserContext, node: Site): Promise<void> {
  const elsewhere = await request.newContext({ storageState: await context.storageState() });
  expect((await elsewhere.delete(`${node.url}/api/session`)).status()).toBe(204);
  await elsewhere.dispose();
}

test('a message queued offline in a session that ended outside is dropped from every tab, never sent, and the next alice sends nothing of it', async ({ context, chat }) => {
  const node = await chat.node();
  await signIn(context, node, 'alice');
  const [typing, other] = [await context.newPage(), await context.newPage()];
  for (const page of [typing, other]) await openRoom(page, node, 'porch');
  await context.setOffline(true);
  for (const page of [typing, other]) await expect(connection(page)).toHaveText('offline');
  await say(typing, 'for alice only');
  for (const page of [typing, other]) await expect(unsent(page)).toHaveText(['for alice only']);

  await signOutElsewhere(context, node);

  // Back online, the outbox's post answers 401: every tab shows alice signed out, and
  // nothing waits any more, on the page or in storage.
  await context.setOffline(false);
  for (const page of [typing, other]) {
    await expect(signInForm(page)).toBeVisible({ timeout: 10_000 });
    await expect(unsent(page)).toHaveCount(0);
    await expect(page.locator('.room-header .outbox-count')).toBeHidden();
  }
  expect(await stored(typing, 'tiny-chat:outbox')).toBeNull();
  expect(await roomTexts(node, 'porch')).toEqual([]);

  // Whoever signs in next as alice in this browser starts a session of their own: what
  // they send is the room's only message (the outbox sends in order, so anything of the
  // last session left in it would come first).
  await signInForm(other).fill('alice');
  await signInForm(other).press('Enter');
  for (const page of [typing, other]) await expect(shownName(page)).toHaveText('alice');
  await say(other, 'a new alice');
  await expect(messageTexts(typing)).toHaveText(['a new alice'], { timeout: 10_000 });
  expect(await roomTexts(node, 'porch')).toEqual(['a new alice']);
});

test('an outbox stored before messages carried their session is dropped, not sent', async ({ page, chat }) => {
  const node = await chat.node();
  await signIn(page.context(), node, 'alice');
  // What this browser held before sessions had tags: a waiting message of alice's, and
  // the time of the last sign-in.
  await page.goto(`${node.url}/readyz`);
  await page.evaluate(() => {
    const old = { client_id: 'from-before', room: 'attic', sender: 'alice', text: 'typed long ago' };
    localStorage.setItem('tiny-chat:outbox', JSON.stringify([old]));
    localStorage.setItem('tiny-chat:session', String(Date.now()));
  });

  await openRoom(page, node, 'attic');
  await say(page, 'typed now');
  await expect(messageTexts(page)).toHaveText(['typed now'], { timeout: 10_000 });
  await expect(unsent(page)).toHaveCount(0);
  expect(await roomTexts(node, 'attic')).toEqual(['typed now']);
  expect(await stored(page, 'tiny-chat:outbox')).toBeNull();
});

test('told by a 401 that her session ended, the page shows alice signed out and drops the pages it kept for offline', async ({ page, chat }) => {
  const node = await chat.node();
  await signIn(page.context(), node, 'alice');
  await openRoom(page, node, 'den');
  await untilCached(page);
  expect(await offlinePages(page)).toContain('/r/den');

  // The cookie is gone (expired, say); typing tells the room, which answers 401.
  await page.context().clearCookies();
  await composer(page).fill('still there?');
  await expect(signInForm(page)).toBeVisible();
  await expect.poll(() => offlinePages(page), { message: 'no page kept from the session' }).toEqual([]);
  expect(await stored(page, 'tiny-chat:session')).toBeNull();

  // Offline, the room no longer comes back from the cache as alice saw it.
  await page.context().setOffline(true);
  await page.reload().catch(() => {});
  await expect(shownName(page)).toHaveCount(0);
});

test('a page rendered signed out after the session ended drops the pages kept while it lasted', async ({ page, chat }) => {
  const node = await chat.node();
  await signIn(page.context(), node, 'alice');
  for (const room of ['kitchen', 'garden']) {
    await openRoom(page, node, room);
    await untilCached(page);
  }
  expect((await offlinePages(page)).sort()).toEqual(['/r/garden', '/r/kitchen']);

  // Her session ends while no page asks anything; the next page comes signed out.
  await signOutElsewhere(page.context(), node);
  await openRoom(page, node, 'kitchen');
  await expect(signInForm(page)).toBeVisible();
  await expect
    .poll(() => offlinePages(page), { message: 'no page kept from the session' })
    .not.toContain('/r/garden');
  expect(await stored(page, 'tiny-chat:session')).toBeNull();

  // Offline, the other room does not come back from the cache as alice saw it.
  await page.context().setOffline(true);
  await page.goto(`${node.url}/r/garden`).catch(() => {});
  await expect(shownName(page)).toHaveCount(0);
});
