// Changing a message as people see it: editing and deleting your own, reacting to
// anyone's, and how a message's text is rendered (the safe Markdown subset).
import type { Browser, Page } from '@playwright/test';
import { test, expect, composer, signIn, postAs, openRoom, messageTexts, type Site } from './fixtures';

/** The row of the message whose text is `text`. */
function row(page: Page, text: string | RegExp) {
  return page.locator('.message-log .message').filter({
    has: page.locator('.text', { hasText: text }),
  });
}

/** A reaction under a message: the button showing `emoji` and its count. */
function reaction(page: Page, text: string, emoji: string) {
  return row(page, text).locator('.reaction', { hasText: emoji });
}

async function say(page: Page, text: string): Promise<void> {
  await composer(page).fill(text);
  await composer(page).press('Enter');
  await expect(composer(page)).toHaveValue('');
  // Sent means the server has it (the outbox is empty), not just that the box is.
  await expect(page.locator('ol.outbox > li')).toHaveCount(0);
}

/** Alice and Bob, each in a browser of their own, in `room`, live. */
async function aliceAndBob(browser: Browser, node: Site, room: string) {
  const alice = await (await browser.newContext()).newPage();
  const bob = await (await browser.newContext()).newPage();
  await signIn(alice.context(), node, 'alice');
  await signIn(bob.context(), node, 'bob');
  await openRoom(alice, node, room);
  await openRoom(bob, node, room);
  return { alice, bob };
}

test('alice edits her message: bob sees the new text, marked edited', async ({ browser, chat }) => {
  const node = await chat.node();
  const { alice, bob } = await aliceAndBob(browser, node, 'edits');
  await say(alice, 'helo bob');
  await expect(messageTexts(bob)).toHaveText(['helo bob']);

  // Her own message has Edit (on hover or focus); his view of it has none.
  await row(alice, 'helo bob').hover();
  await row(alice, 'helo bob').getByRole('button', { name: 'Edit message' }).click();
  const box = alice.getByRole('textbox', { name: 'Edit message' });
  await expect(box).toBeFocused();
  await expect(box).toHaveValue('helo bob');
  await box.fill('hello bob');
  await box.press('Enter');

  await expect(messageTexts(bob)).toHaveText(['hello bob'], { timeout: 2_000 });
  await expect(row(bob, 'hello bob').locator('.edited')).toHaveText('(edited)', { timeout: 2_000 });
  await expect(messageTexts(alice)).toHaveText(['hello bob']);
  await expect(row(alice, 'hello bob').locator('.edited')).toHaveText('(edited)');
  await row(bob, 'hello bob').hover();
  await expect(row(bob, 'hello bob').getByRole('button', { name: 'Edit message' })).toHaveCount(0);

  // What was edited reads the same after a reload (from history this time).
  await bob.reload();
  await expect(messageTexts(bob)).toHaveText(['hello bob']);
  await expect(row(bob, 'hello bob').locator('.edited')).toHaveText('(edited)');
});

test('a name taken again is another person: the earlier holder\'s messages are not yours', async ({ browser, chat }) => {
  const node = await chat.node();
  // The first Mason writes, and leaves the name.
  const first = await browser.newContext();
  const api = first.request;
  expect((await api.post(`${node.url}/api/session`, { data: { name: 'mason' } })).status()).toBe(200);
  const sent = await api.post(`${node.url}/api/rooms/holdings/messages`, { data: { text: 'the first mason' } });
  expect(sent.status()).toBe(201);
  expect((await api.delete(`${node.url}/api/session`)).status()).toBe(204);
  await first.close();

  // Someone else takes it, in the room's own form, and writes.
  const page = await (await browser.newContext()).newPage();
  await openRoom(page, node, 'holdings');
  await page.getByLabel('Pick a name to join the conversation').fill('Mason');
  await page.getByRole('button', { name: 'Join' }).click();
  await say(page, 'the second mason');

  // Theirs is theirs; the first Mason's is not, now or after a reload (the page then
  // learns the session from the server's render, not from the sign-in).
  for (const reload of [false, true]) {
    if (reload) {
      await page.reload();
      await expect(page.locator('.room-header .status')).toHaveText('live');
    }
    await expect(messageTexts(page)).toHaveText(['the first mason', 'the second mason']);
    await expect(page.locator('.message.mine .text')).toHaveText(['the second mason']);
    await row(page, 'the first mason').hover();
    await expect(row(page, 'the first mason').getByRole('button', { name: 'Add reaction' })).toBeVisible();
    for (const action of ['Edit message', 'Delete message']) {
      await expect(row(page, 'the first mason').getByRole('button', { name: action })).toHaveCount(0);
    }
    await row(page, 'the second mason').hover();
    await expect(row(page, 'the second mason').getByRole('button', { name: 'Edit message' })).toBeVisible();
  }
});

test('alice deletes her message, after saying yes: it is gone for both', async ({ browser, chat }) => {
  const node = await chat.node();
  const { alice, bob } = await aliceAndBob(browser, node, 'deletes');
  await say(alice, 'keep this');
  await say(alice, 'oops, wrong room');
  await expect(messageTexts(bob)).toHaveText(['keep this', 'oops, wrong room']);

  const oops = row(alice, 'oops, wrong room');
  await oops.hover();
  await oops.getByRole('button', { name: 'Delete message' }).click();
  await expect(oops.getByText('Delete this message?')).toBeVisible();
  // Cancel (or Escape) keeps it.
  await oops.getByRole('button', { name: 'Cancel' }).click();
  await expect(oops.getByText('Delete this message?')).toBeHidden();
  await oops.hover();
  await oops.getByRole('button', { name: 'Delete message' }).click();
  await oops.getByRole('button', { name: 'Delete', exact: true }).click();

  await expect(messageTexts(alice)).toHaveText(['keep this']);
  await expect(messageTexts(bob)).toHaveText(['keep this'], { timeout: 2_000 });
  await bob.reload();
  await expect(messageTexts(bob)).toHaveText(['keep this']);
});

test('bob reacts to alice\'s message: she sees it counted, pressed only for him', async ({ browser, chat }) => {
  const node = await chat.node();
  const { alice, bob } = await aliceAndBob(browser, node, 'reactions');
  await say(alice, 'ship it?');
  await expect(messageTexts(bob)).toHaveText(['ship it?']);

  // The picker opens and closes from the keyboard, giving the focus back.
  const add = row(bob, 'ship it?').getByRole('button', { name: 'Add reaction' });
  await add.focus();
  await add.press('Enter');
  const picker = row(bob, 'ship it?').getByRole('group', { name: 'Pick a reaction' });
  await expect(picker.getByRole('button')).toHaveCount(6);
  await expect(picker.getByRole('button', { name: 'React with 👍' })).toBeFocused();
  await bob.keyboard.press('Escape');
  await expect(picker).toHaveCount(0);
  await expect(add).toBeFocused();

  await add.press('Enter');
  await picker.getByRole('button', { name: 'React with 👍' }).click();

  await expect(reaction(alice, 'ship it?', '👍')).toHaveText('👍 1', { timeout: 2_000 });
  await expect(reaction(alice, 'ship it?', '👍')).toHaveAttribute('aria-pressed', 'false');
  await expect(reaction(alice, 'ship it?', '👍')).toHaveAttribute('title', 'bob');
  await expect(reaction(bob, 'ship it?', '👍')).toHaveText('👍 1');
  await expect(reaction(bob, 'ship it?', '👍')).toHaveAttribute('aria-pressed', 'true');

  // Alice joins in with the same emoji: two, pressed for her too.
  await reaction(alice, 'ship it?', '👍').click();
  await expect(reaction(bob, 'ship it?', '👍')).toHaveText('👍 2', { timeout: 2_000 });
  await expect(reaction(alice, 'ship it?', '👍')).toHaveAttribute('aria-pressed', 'true');
  await expect(reaction(alice, 'ship it?', '👍')).toHaveAttribute('title', 'bob, alice');

  // Bob takes his back.
  await reaction(bob, 'ship it?', '👍').click();
  await expect(reaction(alice, 'ship it?', '👍')).toHaveText('👍 1', { timeout: 2_000 });
  await expect(reaction(bob, 'ship it?', '👍')).toHaveAttribute('aria-pressed', 'false');
});

test('text renders as safe Markdown: links, bold, and markup as text', async ({ page, chat }) => {
  const node = await chat.node();
  const dialogs: string[] = [];
  page.on('dialog', async (dialog) => {
    dialogs.push(dialog.message());
    await dialog.dismiss();
  });
  const texts = ['see https://example.com/x', 'this is **bold**', '<img src=x onerror=alert(1)>'];
  // Half in the server's HTML, the rest live after hydration.
  await postAs(node, 'ann', 'render', texts.slice(0, 2));
  await signIn(page.context(), node, 'reader');
  await openRoom(page, node, 'render');
  await postAs(node, 'ann', 'render', texts.slice(2));
  await postAs(node, 'ann', 'render', ['and **live** https://example.com/x']);

  const log = page.getByRole('log');
  await expect(messageTexts(page)).toHaveText([
    'see https://example.com/x',
    'this is bold',
    '<img src=x onerror=alert(1)>',
    'and live https://example.com/x',
  ]);
  const links = log.getByRole('link', { name: 'https://example.com/x' });
  await expect(links).toHaveCount(2);
  for (const link of await links.all()) {
    await expect(link).toHaveAttribute('href', 'https://example.com/x');
    await expect(link).toHaveAttribute('target', '_blank');
    await expect(link).toHaveAttribute('rel', /\bnoopener\b/);
  }
  await expect(log.locator('.text strong')).toHaveText(['bold', 'live']);
  await expect(log.locator('img, script, iframe')).toHaveCount(0);
  expect(dialogs).toEqual([]);
});

test('up in the empty composer edits your last message', async ({ page, chat }) => {
  const node = await chat.node();
  await postAs(node, 'zed', 'up', ['not yours']);
  await signIn(page.context(), node, 'alice');
  await openRoom(page, node, 'up');
  await say(page, 'first');
  await say(page, 'secnod');
  await postAs(node, 'zed', 'up', ['zed has the last word']);
  await expect(messageTexts(page)).toHaveCount(4);

  // Escape cancels, and the focus is back in the composer.
  await composer(page).press('ArrowUp');
  const box = page.getByRole('textbox', { name: 'Edit message' });
  await expect(box).toBeFocused();
  await expect(box).toHaveValue('secnod');
  await box.press('Escape');
  await expect(box).toHaveCount(0);
  await expect(composer(page)).toBeFocused();

  await composer(page).press('ArrowUp');
  await expect(box).toBeFocused();
  await box.fill('second');
  await box.press('Enter');
  await expect(messageTexts(page)).toHaveText(['not yours', 'first', 'second', 'zed has the last word']);
  await expect(row(page, /^second$/).locator('.edited')).toHaveText('(edited)');
  await expect(composer(page)).toBeFocused();

  // Up in a composer with text in it moves the caret, as ever.
  await composer(page).fill('draft');
  await composer(page).press('ArrowUp');
  await expect(box).toHaveCount(0);
});

test('an edit in progress survives the message above it being deleted', async ({ page, chat }) => {
  const node = await chat.node();
  await signIn(page.context(), node, 'alice');
  await openRoom(page, node, 'drafts');
  await say(page, 'first');
  await say(page, 'second');
  const second = row(page, /^second$/);
  await second.hover();
  await second.getByRole('button', { name: 'Edit message' }).click();
  const box = page.getByRole('textbox', { name: 'Edit message' });
  await box.fill('second, and better');

  // From another tab (the same session, through the API): the first message goes, so
  // the second starts its group and its row is drawn again.
  const api = page.context().request;
  const history = await (await api.get(`${node.url}/api/rooms/drafts/messages`)).json();
  expect((await api.delete(`${node.url}/api/rooms/drafts/messages/${history[0].id}`)).status()).toBe(204);
  await expect(page.locator('.message-log .message')).toHaveCount(1);
  await expect(box).toHaveValue('second, and better');
  await box.press('Enter');
  await expect(messageTexts(page)).toHaveText(['second, and better']);
});

test.describe('without JavaScript', () => {
  test.use({ javaScriptEnabled: false });

  test('reactions and edits show, and nothing offers to change them', async ({ page, chat }) => {
    const node = await chat.node();
    // Bob posts, fixes his text and reacts, through the API (one session with the page).
    await signIn(page.context(), node, 'bob');
    await postAs(node, 'bob', 'still', ['frist try']);
    const api = page.context().request;
    const history = await (await api.get(`${node.url}/api/rooms/still/messages`)).json();
    const url = `${node.url}/api/rooms/still/messages/${history[0].id}`;
    expect((await api.patch(url, { data: { text: 'first try' } })).status()).toBe(200);
    expect((await api.put(`${url}/reactions/${encodeURIComponent('🎉')}`)).status()).toBe(200);
    await page.goto(`${node.url}/r/still`);

    await expect(messageTexts(page)).toHaveText(['first try']);
    const party = reaction(page, 'first try', '🎉');
    await expect(party).toHaveText('🎉 1');
    await expect(party).toHaveAttribute('aria-pressed', 'true');
    await expect(party).toBeDisabled();
    await expect(row(page, 'first try').locator('.edited')).toHaveText('(edited)');
    await expect(page.getByRole('button', { name: /Edit message|Delete message|Add reaction/ })).toHaveCount(0);
  });
});
