import { test, expect, signIn, postAs, openRoom, messageTexts, connection } from './fixtures';

test('the room hydrates and goes live under its CSP, with no violation', async ({ page, chat }) => {
  const node = await chat.node();
  const violations: string[] = [];
  page.on('console', (message) => {
    const text = message.text();
    if (/Content.Security.Policy|Refused to/i.test(text)) violations.push(text);
  });
  page.on('pageerror', (error) => violations.push(error.message));
  await postAs(node, 'mallory', 'guarded', ['<script>window.pwned = 1</script>', '<img src=x onerror="window.pwned = 2">']);
  await signIn(page.context(), node, 'reader');

  const response = await page.goto(`${node.url}/r/guarded`);
  const policy = response?.headers()['content-security-policy'] ?? '';
  expect(policy).toContain("frame-ancestors 'none'");
  expect(policy).not.toContain('unsafe-inline');
  await expect(connection(page)).toHaveText('live');

  // Live after hydration: a message posted now arrives, and one posted from the page.
  await postAs(node, 'mallory', 'guarded', ['<svg onload="window.pwned = 3">']);
  await page.getByRole('textbox', { name: 'Message' }).fill('hello under the policy');
  await page.getByRole('textbox', { name: 'Message' }).press('Enter');
  await expect(messageTexts(page)).toHaveText([
    '<script>window.pwned = 1</script>',
    '<img src=x onerror="window.pwned = 2">',
    '<svg onload="window.pwned = 3">',
    'hello under the policy',
  ]);
  expect(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned)).toBeUndefined();
  expect(violations).toEqual([]);
});

test('a taken name is refused and the form keeps what was typed', async ({ browser, chat }) => {
  const node = await chat.node();
  await postAs(node, 'alice', 'everyone', ['the real alice']);
  const page = await (await browser.newContext()).newPage();
  await openRoom(page, node, 'everyone');

  const box = page.getByLabel('Pick a name to join the conversation');
  await box.fill('ALICE');
  await page.getByRole('button', { name: 'Join' }).click();
  await expect(page.locator('#name-error')).toHaveText(/That name is taken/);
  await expect(box).toHaveValue('ALICE');
  await expect(page.getByRole('textbox', { name: 'Message' })).toHaveCount(0);

  // Another name works, and the header shows who you are.
  await box.fill('alicia');
  await page.getByRole('button', { name: 'Join' }).click();
  await expect(page.locator('.room-header .identity .me')).toHaveText('alicia');
  await expect(page.locator('.room-header .identity .avatar')).toHaveText('A');
});

test.describe('without JavaScript', () => {
  test.use({ javaScriptEnabled: false });

  test('a taken name is refused the same way', async ({ page, chat }) => {
    const node = await chat.node();
    await postAs(node, 'alice', 'everyone', ['the real alice']);
    await page.goto(node.url);
    await page.getByLabel('Pick a name to chat under').fill('Alice');
    await page.getByRole('button', { name: 'Join' }).click();
    await expect(page.locator('#name-error')).toHaveText(/That name is taken/);
    await expect(page.getByLabel('Pick a name to chat under')).toHaveValue('Alice');

    // Then a free name, a change of name and signing out, all as plain forms.
    await page.getByLabel('Pick a name to chat under').fill('nojs');
    await page.getByRole('button', { name: 'Join' }).click();
    await expect(page.getByText('Hello, nojs.')).toBeVisible();
    await page.locator('.identity summary').click();
    await page.getByLabel('Change your name').fill('nojs two');
    await page.getByRole('button', { name: 'Change' }).click();
    await expect(page.getByText('Hello, nojs two.')).toBeVisible();
    await page.locator('.identity summary').click();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await expect(page.getByLabel('Pick a name to chat under')).toBeVisible();
  });
});

test('your name in the header: change it, sign out, and the old cookie is dead', async ({ page, chat }) => {
  const node = await chat.node();
  await signIn(page.context(), node, 'carol');
  await openRoom(page, node, 'lounge');
  const identity = page.locator('.room-header .identity');
  await expect(identity.locator('.me')).toHaveText('carol');
  await expect(identity.locator('.avatar')).toHaveText('C');

  await identity.locator('summary').click();
  await page.getByLabel('Change your name').fill('caroline');
  await page.getByRole('button', { name: 'Change' }).click();
  await expect(identity.locator('.me')).toHaveText('caroline');
  await expect(page.getByLabel('Change your name')).toBeHidden();
  await page.getByRole('textbox', { name: 'Message' }).fill('as caroline');
  await page.getByRole('textbox', { name: 'Message' }).press('Enter');
  await expect(page.locator('.message.mine .sender')).toHaveText(['caroline']);

  const cookies = await page.context().cookies();
  await identity.locator('summary').click();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page.getByLabel('Pick a name to join the conversation')).toBeVisible();
  await expect(page.locator('.message.mine')).toHaveCount(0);

  // A copy of the cookie taken before signing out no longer works.
  const copy = await page.context().browser()!.newContext();
  await copy.addCookies(cookies);
  const response = await copy.request.get(`${node.url}/api/session`);
  expect(response.status()).toBe(401);
  await copy.close();
});
