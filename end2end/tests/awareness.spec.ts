// Room awareness as a person sees it: who is here, who is typing, what you missed in
// other rooms, mentions of you, and the two gaps that one stream per tab closes.
import path from 'node:path';
import fs from 'node:fs';
import type { Page } from '@playwright/test';
import { test, expect, composer, signIn, postAs, openRoom, messageTexts, connection, awayPastHistory } from './fixtures';

/** The names in the room's member list, in the order shown. */
function memberNames(page: Page) {
  return page.locator('#members .member-name');
}

/** The line under the messages that says who is typing. */
function typingLine(page: Page) {
  return page.locator('.typing');
}

/** A room's entry in the sidebar of recent rooms. */
function sidebarRoom(page: Page, room: string) {
  return page
    .getByRole('navigation', { name: 'Recent rooms' })
    .getByRole('link', { name: new RegExp(`^#${room}\\b`) });
}

test('two people in a room see each other in the member list, and a leave', async ({ browser, chat }) => {
  const node = await chat.node();
  const alice = await (await browser.newContext()).newPage();
  const bob = await (await browser.newContext()).newPage();
  await signIn(alice.context(), node, 'alice');
  await signIn(bob.context(), node, 'bob');

  await openRoom(alice, node, 'lounge');
  await openRoom(bob, node, 'lounge');

  await expect(memberNames(alice)).toHaveText(['alice', 'bob']);
  await expect(memberNames(bob)).toHaveText(['alice', 'bob']);
  await expect(alice.locator('#members .member.me .member-name')).toHaveText('alice');
  await expect(alice.locator('#members .members-total')).toHaveText('2');

  // Bob closes his tab: after the leave grace, Alice sees him gone.
  await bob.context().close();
  await expect(memberNames(alice)).toHaveText(['alice'], { timeout: 10_000 });
  await expect(alice.locator('#members .members-total')).toHaveText('1');
});

test('bob sees that alice is typing, until she sends or stops', async ({ browser, chat }) => {
  const node = await chat.node();
  const alice = await (await browser.newContext()).newPage();
  const bob = await (await browser.newContext()).newPage();
  await signIn(alice.context(), node, 'alice');
  await signIn(bob.context(), node, 'bob');
  await openRoom(alice, node, 'desk');
  await openRoom(bob, node, 'desk');

  await composer(alice).pressSequentially('hello bob', { delay: 60 });
  await expect(typingLine(bob)).toHaveText('alice is typing…');
  // Never yourself.
  await expect(typingLine(alice)).toHaveText('');

  // Her message ends it at once, well before the 4 s it would otherwise last.
  await composer(alice).press('Enter');
  await expect(messageTexts(bob)).toHaveText(['hello bob']);
  await expect(typingLine(bob)).toHaveText('', { timeout: 1_500 });

  // She types again (after the 2 s in which the room is told once) and stops: it shows,
  // then goes by itself about 4 s later.
  await alice.waitForTimeout(2_100);
  await composer(alice).pressSequentially('one more thing', { delay: 80 });
  await expect(typingLine(bob)).toHaveText('alice is typing…', { timeout: 4_000 });
  const stoppedAt = Date.now();
  await expect(typingLine(bob)).toHaveText('', { timeout: 8_000 });
  expect(Date.now() - stoppedAt).toBeGreaterThan(1_000);
});

test('a message in another room shows as unread in the sidebar and the title until opened', async ({ page, chat }) => {
  const node = await chat.node();
  await signIn(page.context(), node, 'alice');
  // Alice has been in #side before; now she is in #main.
  await openRoom(page, node, 'side');
  await openRoom(page, node, 'main');
  await expect(page).toHaveTitle('#main · tiny-chat');
  await expect(sidebarRoom(page, 'side')).toBeVisible();

  await postAs(node, 'carol', 'side', ['psst, over here']);
  await expect(sidebarRoom(page, 'side').locator('.unread-count')).toHaveText('1');
  await expect(sidebarRoom(page, 'side')).toHaveAccessibleName('#side, 1 unread');
  await expect(page).toHaveTitle('(1) #main · tiny-chat');

  // A reload keeps it: what was read is remembered, and the server replays the rest.
  await page.reload();
  await expect(connection(page)).toHaveText('live');
  await expect(sidebarRoom(page, 'side').locator('.unread-count')).toHaveText('1');
  await expect(page).toHaveTitle('(1) #main · tiny-chat');

  // Opening the room reads it.
  await sidebarRoom(page, 'side').click();
  await expect(page).toHaveURL(/\/r\/side$/);
  await expect(messageTexts(page)).toHaveText(['psst, over here']);
  await expect(page).toHaveTitle('#side · tiny-chat');
  await expect(page.locator('.sidebar .unread-count')).toHaveCount(0);

  // And back in #main, #side stays read.
  await sidebarRoom(page, 'main').click();
  await expect(page).toHaveURL(/\/r\/main$/);
  await expect(connection(page)).toHaveText('live');
  await expect(page).toHaveTitle('#main · tiny-chat');
  await expect(page.locator('.sidebar .unread-count')).toHaveCount(0);
});

test('a mention of alice is highlighted where she is, and marked where she is not', async ({ page, chat }) => {
  const node = await chat.node();
  await signIn(page.context(), node, 'alice');
  await openRoom(page, node, 'side');
  await openRoom(page, node, 'main');

  await postAs(node, 'bob', 'main', ['hi @Alice, look at this', 'and @carol too', '<b>@alice</b>']);
  await expect(messageTexts(page)).toHaveText(['hi @Alice, look at this', 'and @carol too', '<b>@alice</b>']);
  const log = page.getByRole('log');
  await expect(log.locator('.mention')).toHaveText(['@Alice', '@carol', '@alice']);
  await expect(log.locator('.message.mentions-me .text')).toHaveText(['hi @Alice, look at this', '<b>@alice</b>']);
  // Text, never markup, around the highlight.
  await expect(log.locator('b')).toHaveCount(0);

  // In another room: counted, and marked as mentioning her.
  await postAs(node, 'bob', 'side', ['nothing for alice', 'ping @alice']);
  await expect(sidebarRoom(page, 'side').locator('.unread-count')).toHaveText('2');
  await expect(sidebarRoom(page, 'side').locator('.mention-mark')).toBeVisible();
  await expect(sidebarRoom(page, 'side')).toHaveAccessibleName('#side, 2 unread, mentions you');
  await expect(page).toHaveTitle('(2) #main · tiny-chat');
});

test('typing @ offers the people here, and the keyboard completes a name', async ({ browser, chat }) => {
  const node = await chat.node();
  const alice = await (await browser.newContext()).newPage();
  await signIn(alice.context(), node, 'alice');
  for (const name of ['bob', 'Bea', 'carol']) {
    const page = await (await browser.newContext()).newPage();
    await signIn(page.context(), node, name);
    await openRoom(page, node, 'crowd');
  }
  await openRoom(alice, node, 'crowd');
  await expect(memberNames(alice)).toHaveText(['alice', 'Bea', 'bob', 'carol']);

  await composer(alice).pressSequentially('hey @b');
  const options = alice.getByRole('listbox', { name: 'People to mention' }).getByRole('option');
  const offered = options.locator('.option-name');
  await expect(offered).toHaveText(['Bea', 'bob']);
  await expect(options.first()).toHaveAttribute('aria-selected', 'true');
  await expect(composer(alice)).toHaveAttribute('aria-activedescendant', 'mention-option-0');
  await composer(alice).press('ArrowDown');
  await expect(options.nth(1)).toHaveAttribute('aria-selected', 'true');
  await composer(alice).press('Tab');
  await expect(composer(alice)).toHaveValue('hey @bob ');
  await expect(options).toHaveCount(0);

  // Escape closes the list; Enter then sends as usual. Yourself is never offered.
  await composer(alice).pressSequentially('and @A');
  await expect(alice.getByRole('listbox')).toHaveCount(0);
  await composer(alice).press('Backspace');
  await composer(alice).pressSequentially('c');
  await expect(offered).toHaveText(['carol']);
  await composer(alice).press('Escape');
  await expect(options).toHaveCount(0);
  await composer(alice).press('Enter');
  await expect(messageTexts(alice)).toHaveText(['hey @bob and @c']);
});

test('asked once, a hidden tab notifies alice of a mention', async ({ page, chat }) => {
  const node = await chat.node();
  // A stand-in for the browser's notifications, and a tab that reads as hidden.
  await page.addInitScript(() => {
    const shown: { title: string; body?: string }[] = [];
    let permission = 'default';
    class FakeNotification {
      static get permission() {
        return permission;
      }
      static requestPermission() {
        permission = 'granted';
        return Promise.resolve(permission);
      }
      constructor(title: string, options?: { body?: string }) {
        shown.push({ title, body: options?.body });
      }
    }
    Object.defineProperty(window, 'Notification', { value: FakeNotification });
    Object.defineProperty(window, 'shownNotifications', { value: shown });
    Object.defineProperty(document, 'hidden', { get: () => true });
  });
  await signIn(page.context(), node, 'alice');
  await openRoom(page, node, 'side');
  await openRoom(page, node, 'main');

  await page.getByRole('button', { name: 'Notify me of mentions' }).click();
  await expect(page.getByRole('button', { name: 'Notify me of mentions' })).toHaveCount(0);
  await expect(page.getByText('Mentions notify you while this tab is hidden.')).toBeVisible();

  await postAs(node, 'bob', 'main', ['no mention here', 'lunch, @alice?']);
  await postAs(node, 'bob', 'side', ['@alice over here too']);
  await expect(sidebarRoom(page, 'side').locator('.unread-count')).toHaveText('1');
  const shown = () => page.evaluate(() => (window as unknown as { shownNotifications: unknown[] }).shownNotifications);
  await expect.poll(shown).toEqual([
    { title: 'bob in #main', body: 'lunch, @alice?' },
    { title: 'bob in #side', body: '@alice over here too' },
  ]);
});

test.describe('without JavaScript', () => {
  test('the member list is rendered by the server, and opens as a sheet on a phone', async ({ browser, chat }) => {
    const node = await chat.node();
    for (const name of ['alice', 'bob']) {
      const page = await (await browser.newContext()).newPage();
      await signIn(page.context(), node, name);
      await openRoom(page, node, 'plain');
    }

    const context = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 375, height: 720 } });
    const page = await context.newPage();
    await page.goto(`${node.url}/r/plain`);
    const button = page.getByRole('button', { name: '2 people here' });
    await expect(button).toHaveText('2');
    await expect(page.locator('#members')).toBeHidden();
    await button.click();
    await expect(page.locator('#members')).toBeVisible();
    await expect(memberNames(page)).toHaveText(['alice', 'bob']);
    await page.getByRole('link', { name: 'Close' }).click();
    await expect(page.locator('#members')).toBeHidden();

    await page.setViewportSize({ width: 1280, height: 720 });
    await expect(memberNames(page)).toHaveText(['alice', 'bob']);
    await context.close();
  });
});

test('a message posted between the server render and hydration shows once (empty room)', async ({ page, chat }) => {
  // On the in-memory broker: nothing but the page's own resume may bring the message.
  const node = await chat.node({ REDIS_URL: '' });
  await signIn(page.context(), node, 'reader');
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  // Hold the client's code, so the page stays as the server rendered it.
  await page.route(/\/pkg\/[^?]*\.(js|wasm)$/, async (route) => {
    await held;
    await route.continue();
  });
  await page.goto(`${node.url}/r/quiet`, { waitUntil: 'commit' });
  await expect(page.getByText('No messages yet. Say hello!')).toBeVisible();
  await expect(connection(page)).toHaveText('offline');

  await postAs(node, 'ann', 'quiet', ['posted before hydration']);
  release();

  await expect(connection(page)).toHaveText('live');
  await expect(messageTexts(page)).toHaveText(['posted before hydration']);
  await postAs(node, 'ann', 'quiet', ['and after']);
  await expect(messageTexts(page)).toHaveText(['posted before hydration', 'and after']);
});

test('a live message that arrives while history reloads after a resync stays, once', async ({ page, chat }) => {
  const { a, b } = await awayPastHistory(page, chat);

  // The reload the resync asks for is answered by the server at once, but reaches the
  // page only after a live message did.
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  let requested!: () => void;
  const reloadRequested = new Promise<void>((resolve) => (requested = resolve));
  await page.route(/\/api\/rooms\/busy\/messages\?/, async (route) => {
    const response = await route.fetch();
    requested();
    await held;
    await route.fulfill({ response });
  });
  await a.start();
  await reloadRequested;
  await postAs(b, 'bea', 'busy', ['live during reload']);
  await expect(messageTexts(page).filter({ hasText: 'live during reload' })).toHaveCount(1);
  release();

  await expect(messageTexts(page).filter({ hasText: /^busy 249$/ })).toHaveCount(1);
  await expect(messageTexts(page).last()).toHaveText('live during reload');
  await expect(messageTexts(page).filter({ hasText: 'live during reload' })).toHaveCount(1);
  await expect(messageTexts(page).filter({ hasText: /^old / })).toHaveCount(0);
  await expect(connection(page)).toHaveText('live');
  await postAs(b, 'bea', 'busy', ['after']);
  await expect(messageTexts(page).last()).toHaveText('after');
});

test.describe('screenshots', () => {
  test('the member list at 375 px wide', async ({ browser, chat }, testInfo) => {
    const node = await chat.node();
    for (const name of ['ben', 'cleo']) {
      const page = await (await browser.newContext()).newPage();
      await signIn(page.context(), node, name);
      await openRoom(page, node, 'design');
    }
    await postAs(node, 'ben', 'design', ['Here. Shipping the new header today.', '@ann can you review?']);
    const context = await browser.newContext({ viewport: { width: 375, height: 720 } });
    const page = await context.newPage();
    await signIn(context, node, 'ann');
    await openRoom(page, node, 'design');
    const button = page.getByRole('button', { name: '3 people here' });
    await expect(button).toHaveText('3');
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);

    await button.click();
    await expect(memberNames(page)).toHaveText(['ann', 'ben', 'cleo']);
    await expect(page.locator('#members')).toBeInViewport();
    await page.screenshot({ path: testInfo.outputPath('members-375.png') });
    await testInfo.attach('members-375', { path: testInfo.outputPath('members-375.png'), contentType: 'image/png' });
    await page.getByRole('link', { name: 'Close' }).click();
    await expect(page.locator('#members')).toBeHidden();
  });

  test('the room with members, typing and unread, in dark mode', async ({ browser, chat }, testInfo) => {
    const node = await chat.node();
    const context = await browser.newContext({ colorScheme: 'dark', viewport: { width: 1024, height: 640 } });
    const page = await context.newPage();
    await signIn(context, node, 'ann');
    await openRoom(page, node, 'random');
    await openRoom(page, node, 'design');

    const ben = await (await browser.newContext()).newPage();
    await signIn(ben.context(), node, 'ben');
    await openRoom(ben, node, 'design');
    const cleo = await (await browser.newContext()).newPage();
    await signIn(cleo.context(), node, 'cleo');
    await openRoom(cleo, node, 'design');

    await postAs(node, 'ann', 'design', ['Morning! Anyone around?']);
    await postAs(node, 'ben', 'design', ['Here. Shipping the new header today.']);
    await postAs(node, 'cleo', 'design', ['@ann the member list is live, have a look →']);
    await postAs(node, 'ben', 'random', ['Lunch at noon?', '@ann are you in?']);
    await expect(memberNames(page)).toHaveText(['ann', 'ben', 'cleo']);
    await expect(sidebarRoom(page, 'random').locator('.unread-count')).toHaveText('2');
    await expect(page).toHaveTitle('(2) #design · tiny-chat');

    await composer(ben).pressSequentially('Looks good', { delay: 30 });
    await expect(typingLine(page)).toHaveText('ben is typing…');
    const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    expect(background).toBe('rgb(21, 23, 27)');
    const shot = testInfo.outputPath('members-dark.png');
    await page.screenshot({ path: shot });
    await testInfo.attach('members-dark', { path: shot, contentType: 'image/png' });
    // `UPDATE_DOCS_SCREENSHOT=1 npx playwright test` refreshes the README's picture.
    if (process.env.UPDATE_DOCS_SCREENSHOT) {
      fs.copyFileSync(shot, path.resolve(__dirname, '..', '..', 'docs', 'screenshot-room.png'));
    }
  });
});
