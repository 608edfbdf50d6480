import { test, expect, signIn, postAs, openRoom, messageTexts, connection, Front, awayPastHistory, partsMounted } from './fixtures';

test('two people chat live, each message shown once', async ({ browser, chat }) => {
  const node = await chat.node();
  const alice = await browser.newContext();
  const bob = await browser.newContext();
  const alicePage = await alice.newPage();
  const bobPage = await bob.newPage();

  // Alice picks her name in the lobby's form; Bob through the API.
  await alicePage.goto(node.url);
  await alicePage.getByLabel('Pick a name to chat under').fill('alice');
  await alicePage.getByRole('button', { name: 'Join' }).click();
  await expect(alicePage.getByText('Hello, alice.')).toBeVisible();
  await signIn(bob, node, 'bob');

  await openRoom(alicePage, node, 'lounge');
  await openRoom(bobPage, node, 'lounge');

  await alicePage.getByRole('textbox', { name: 'Message' }).fill('hi bob');
  await alicePage.getByRole('textbox', { name: 'Message' }).press('Enter');
  await expect(messageTexts(bobPage)).toHaveText(['hi bob'], { timeout: 2_000 });

  await bobPage.getByRole('textbox', { name: 'Message' }).fill('hi alice\nsecond line');
  await bobPage.getByRole('button', { name: 'Send' }).click();
  await expect(messageTexts(alicePage)).toHaveText(['hi bob', 'hi alice\nsecond line'], { timeout: 2_000 });

  // Each message once on both sides; your own set apart; the box empties after sending.
  await expect(messageTexts(bobPage)).toHaveText(['hi bob', 'hi alice\nsecond line']);
  await expect(alicePage.locator('.message.mine .text')).toHaveText(['hi bob']);
  await expect(bobPage.getByRole('textbox', { name: 'Message' })).toHaveValue('');
  await expect(bobPage.getByRole('button', { name: 'Send' })).toBeDisabled();
});

test('markup is shown as text and never runs', async ({ page, chat }) => {
  const node = await chat.node();
  const dialogs: string[] = [];
  page.on('dialog', async (dialog) => {
    dialogs.push(dialog.message());
    await dialog.dismiss();
  });
  const corpus = [
    '<script>alert(1)</script>',
    '<img src=x onerror=alert(1)>',
    '"><svg onload=alert(1)>',
    '<a href="javascript:alert(1)">click me</a>',
    'javascript:alert(1)',
  ];
  // Half arrive as history in the server's HTML, half live after hydration.
  await postAs(node, 'mallory', 'xss', corpus.slice(0, 2));
  await signIn(page.context(), node, 'victim');
  await openRoom(page, node, 'xss');
  await postAs(node, 'mallory', 'xss', corpus.slice(2));

  await expect(messageTexts(page)).toHaveText(corpus);
  const log = page.getByRole('log');
  await expect(log.locator('script, img, svg, a, iframe')).toHaveCount(0);
  // Reload: the server-rendered HTML escapes them too.
  await page.reload();
  await expect(connection(page)).toHaveText('live');
  await expect(messageTexts(page)).toHaveText(corpus);
  await expect(log.locator('script, img, svg, a, iframe')).toHaveCount(0);
  expect(dialogs).toEqual([]);
});

test('a client rides out a server restart and shows every missed message once', async ({ page, chat }) => {
  const a = await chat.node();
  const b = await chat.node();
  await postAs(a, 'ann', 'ops', ['before 1', 'before 2']);
  await signIn(page.context(), a, 'watcher');
  await openRoom(page, a, 'ops');
  await expect(messageTexts(page)).toHaveText(['before 1', 'before 2']);

  await a.stop();
  await expect(connection(page)).toHaveText(/reconnecting|offline/);
  // While node A is gone, the chat goes on through node B on the same Redis.
  await postAs(b, 'bea', 'ops', ['missed 1', 'missed 2', 'missed 3']);
  await a.start();

  await expect(connection(page)).toHaveText('live', { timeout: 15_000 });
  await expect(messageTexts(page)).toHaveText(['before 1', 'before 2', 'missed 1', 'missed 2', 'missed 3']);
  await postAs(b, 'bea', 'ops', ['after']);
  await expect(messageTexts(page)).toHaveText(['before 1', 'before 2', 'missed 1', 'missed 2', 'missed 3', 'after']);
});

test('a client away longer than history holds reloads it on resync', async ({ page, chat }) => {
  const { a, b } = await awayPastHistory(page, chat);
  await a.start();

  // The stream says resync; the page reloads the newest history and goes on live.
  await expect(connection(page)).toHaveText('live', { timeout: 15_000 });
  await expect(messageTexts(page).last()).toHaveText('busy 249', { timeout: 10_000 });
  // History holds exactly the newest five: the page shows those and nothing older.
  await expect(messageTexts(page)).toHaveText(['busy 245', 'busy 246', 'busy 247', 'busy 248', 'busy 249']);
  await postAs(b, 'bea', 'busy', ['after resync']);
  await expect(messageTexts(page).last()).toHaveText('after resync');
  await expect(messageTexts(page).filter({ hasText: 'after resync' })).toHaveCount(1);
});

test('older history loads at the top, and new messages wait in a pill while scrolled up', async ({ page, chat }) => {
  const node = await chat.node();
  const history = Array.from({ length: 80 }, (_, i) => `m${i}`);
  await postAs(node, 'ann', 'long', history);
  await signIn(page.context(), node, 'reader');
  await page.setViewportSize({ width: 900, height: 600 });
  await openRoom(page, node, 'long');

  // The server rendered the newest 50, and the list starts at the bottom.
  await expect(messageTexts(page)).toHaveCount(50);
  await expect(messageTexts(page).last()).toBeInViewport();

  // Reaching the top loads the 30 before them, keeping what was in view in place.
  const list = page.locator('.messages');
  await list.evaluate((el) => el.scrollTo(0, 0));
  await expect(messageTexts(page)).toHaveText(history);
  await expect(page.getByText('This is the beginning of the room.')).toBeVisible();
  await expect(messageTexts(page).filter({ hasText: /^m30$/ })).toBeInViewport();

  // Scrolled up, new messages do not yank the view: a pill counts them.
  await postAs(node, 'bob', 'long', ['new 1', 'new 2', 'new 3']);
  const pill = page.getByRole('button', { name: /new messages/ });
  await expect(pill).toHaveText('3 new messages ↓');
  await expect(messageTexts(page).last()).not.toBeInViewport();
  await pill.click();
  await expect(messageTexts(page).last()).toHaveText('new 3');
  await expect(messageTexts(page).last()).toBeInViewport();
  await expect(pill).toBeHidden();

  // At the bottom, the list follows new messages by itself.
  await postAs(node, 'bob', 'long', ['new 4']);
  await expect(messageTexts(page).last()).toHaveText('new 4');
  await expect(messageTexts(page).last()).toBeInViewport();
  await expect(pill).toBeHidden();
});

test.describe('without JavaScript', () => {
  test.use({ javaScriptEnabled: false });

  test('the room reads and a message can be posted', async ({ page, chat }) => {
    const node = await chat.node();
    await postAs(node, 'ann', 'plain', ['rendered by the server', 'with <b>markup</b> as text']);

    // Sign in with the lobby's plain form: it posts and comes back.
    await page.goto(node.url);
    await page.getByLabel('Pick a name to chat under').fill('nojs');
    await page.getByRole('button', { name: 'Join' }).click();
    await expect(page.getByText('Hello, nojs.')).toBeVisible();

    // Open the room with the lobby's plain GET form.
    await page.getByLabel('Open a room').fill('plain');
    await page.getByRole('button', { name: 'Go' }).click();
    await expect(page).toHaveURL(/\/r\/plain$/);
    await expect(messageTexts(page)).toHaveText(['rendered by the server', 'with <b>markup</b> as text']);

    await page.getByRole('textbox', { name: 'Message' }).fill('posted without js');
    await page.getByRole('button', { name: 'Send' }).click();
    // Back in the room (the server function's redirect may add an empty query).
    await expect(page).toHaveURL(/\/r\/plain\??$/);
    await expect(messageTexts(page)).toHaveText([
      'rendered by the server',
      'with <b>markup</b> as text',
      'posted without js',
    ]);
  });
});

test.describe('screenshots', () => {
  test('the room at 375 px wide', async ({ browser, chat }, testInfo) => {
    const node = await chat.node();
    await postAs(node, 'ann', 'design', ['Morning! Anyone around?', 'Coffee first ☕']);
    await postAs(node, 'ben', 'design', ['Here. Shipping the new header today.']);
    const context = await browser.newContext({ viewport: { width: 375, height: 720 } });
    const page = await context.newPage();
    await signIn(context, node, 'ann');
    await openRoom(page, node, 'design');
    await expect(messageTexts(page)).toHaveCount(3);
    // Nothing overflows sideways at this width.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await page.screenshot({ path: testInfo.outputPath('room-375.png') });
    await testInfo.attach('room-375', { path: testInfo.outputPath('room-375.png'), contentType: 'image/png' });
  });

  test('the room in dark mode', async ({ browser, chat }, testInfo) => {
    const node = await chat.node();
    await postAs(node, 'ann', 'night', ['Dark mode follows the system setting.']);
    await postAs(node, 'ben', 'night', ['And focus stays visible:']);
    const context = await browser.newContext({ colorScheme: 'dark', viewport: { width: 1024, height: 640 } });
    const page = await context.newPage();
    await signIn(context, node, 'ann');
    await openRoom(page, node, 'night');
    await page.getByRole('textbox', { name: 'Message' }).focus();
    const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    expect(background).toBe('rgb(21, 23, 27)');
    await page.screenshot({ path: testInfo.outputPath('room-dark.png') });
    await testInfo.attach('room-dark', { path: testInfo.outputPath('room-dark.png'), contentType: 'image/png' });
  });
});

test('a node killed with kill -9 mid-conversation: its browsers move to the other and miss nothing', async ({ browser, chat }) => {
  const a = await chat.node();
  const b = await chat.node();
  // Browsers reach the chat through a front that prefers node A.
  const front = await Front.start([a, b]);
  try {
    const alice = await (await browser.newContext()).newPage();
    const bob = await (await browser.newContext()).newPage();
    await signIn(alice.context(), front, 'alice');
    await signIn(bob.context(), front, 'bob');
    await openRoom(alice, front, 'ops');
    await openRoom(bob, front, 'ops');

    const say = async (page: typeof alice, text: string) => {
      await page.getByRole('textbox', { name: 'Message' }).fill(text);
      await page.getByRole('textbox', { name: 'Message' }).press('Enter');
      await expect(page.getByRole('textbox', { name: 'Message' })).toHaveValue('');
      // Sent means the server has it (the outbox is empty), not just that the box is.
      await expect(page.locator('ol.outbox > li')).toHaveCount(0);
    };
    const sent: string[] = [];
    for (let i = 0; i < 3; i++) {
      await say(alice, `alice ${i}`);
      await say(bob, `bob ${i}`);
      sent.push(`alice ${i}`, `bob ${i}`);
    }
    await expect(messageTexts(alice)).toHaveText(sent);

    // Node A dies without closing anything; meanwhile others go on talking through B.
    await a.kill();
    await postAs(b, 'carol', 'ops', ['carol while a is down 1', 'carol while a is down 2']);
    sent.push('carol while a is down 1', 'carol while a is down 2');

    // Both browsers reconnect through the front, now to B, and resume with their
    // Last-Event-ID: every message, once, in order, and they can post again.
    for (const page of [alice, bob]) {
      await expect(connection(page)).toHaveText('live', { timeout: 10_000 });
    }
    await say(alice, 'alice after');
    await say(bob, 'bob after');
    sent.push('alice after', 'bob after');
    await expect(messageTexts(alice)).toHaveText(sent, { timeout: 5_000 });
    await expect(messageTexts(bob)).toHaveText(sent, { timeout: 5_000 });
  } finally {
    await front.close();
  }
});

// A page load keeps the server's rows until the stream is live; a move within the app has
// no server rows, and shows the room's own at once, at the bottom.
test('moving to a long room from the sidebar shows its newest messages at once', async ({ page, chat }) => {
  const node = await chat.node();
  const history = Array.from({ length: 60 }, (_, i) => `t${i}`);
  await postAs(node, 'ann', 'tall', history);
  await signIn(page.context(), node, 'reader');
  await page.setViewportSize({ width: 900, height: 600 });
  await openRoom(page, node, 'tall');
  await openRoom(page, node, 'short');
  await page.locator('.sidebar').getByRole('link', { name: /^#tall\b/ }).click();
  await expect(page).toHaveURL(/\/r\/tall$/);
  await expect(messageTexts(page)).toHaveText(history.slice(10), { timeout: 1000 });
  await expect(messageTexts(page).last()).toBeInViewport({ timeout: 1000 });
});

test('what is typed before the rest of the app is in stays, with the focus, and sends', async ({ page, chat }) => {
  const node = await chat.node();
  await signIn(page.context(), node, 'early');
  // Hold back the lazily loaded part of the WASM (src/app/later.rs) until released.
  let release: () => void = () => {};
  const held = new Promise<void>((resolve) => (release = resolve));
  await page.route(/\/split_mount_parts_[^/]*\.wasm$/, async (route) => {
    await held;
    await route.continue();
  });
  await page.goto(`${node.url}/r/early`);
  await expect(connection(page)).toHaveText('live');
  // The server's message box, a plain form's until the live composer replaces it.
  const box = page.getByRole('textbox', { name: 'Message' });
  await box.fill('typed while loading');
  await expect(page.locator('.message-log[role="log"]')).not.toBeAttached();

  release();
  await partsMounted(page);
  await expect(box).toHaveValue('typed while loading');
  await expect(box).toBeFocused();
  await expect(page.getByRole('button', { name: 'Send' })).toBeEnabled();
  await box.press('Enter');
  await expect(messageTexts(page)).toHaveText(['typed while loading']);
  await expect(box).toHaveValue('');
});
