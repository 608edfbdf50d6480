// What a browser downloads before the chat is live: the WASM, its JS and the stylesheet,
// under names that change with their content, cached for good, and sent compressed.
import { test, expect, connection } from './fixtures';

const HASHED = /\/pkg\/tiny-chat\.[A-Za-z0-9_-]{22}\.(wasm|js|css)$/;

test('the room loads hashed, immutable, brotli-compressed files, and the page is revalidated', async ({ page, chat }) => {
  const node = await chat.node();
  const files = new Map<string, { encoding?: string; cache?: string }>();
  page.on('response', (response) => {
    const url = new URL(response.url());
    if (url.pathname.startsWith('/pkg/')) {
      const headers = response.headers();
      files.set(url.pathname, { encoding: headers['content-encoding'], cache: headers['cache-control'] });
    }
  });
  const answer = await page.goto(`${node.url}/r/assets`);
  expect(answer?.headers()['cache-control']).toBe('private, no-cache');
  await expect(connection(page)).toHaveText('live');

  const kinds = [...files.keys()].map((path) => HASHED.exec(path)?.[1]).sort();
  expect(kinds, `hashed names: ${[...files.keys()]}`).toEqual(['css', 'js', 'wasm']);
  for (const [path, { encoding, cache }] of files) {
    expect(encoding, path).toBe('br');
    expect(cache, path).toBe('public, max-age=31536000, immutable');
  }
});

test('without Accept-Encoding the WASM comes as it is, whole', async ({ page, chat, request }) => {
  const node = await chat.node();
  await page.goto(`${node.url}/r/assets`);
  const wasm = await page.evaluate(() => performance.getEntriesByType('resource').map((e) => e.name).find((n) => n.endsWith('.wasm')));
  expect(wasm).toMatch(HASHED);
  const plain = await request.get(wasm!, { headers: { 'accept-encoding': 'identity' } });
  expect(plain.status()).toBe(200);
  expect(plain.headers()['content-encoding']).toBeUndefined();
  const body = await plain.body();
  expect(Number(plain.headers()['content-length'])).toBe(body.length);
  // A WebAssembly module starts with "\0asm".
  expect([...body.subarray(0, 4)]).toEqual([0, 0x61, 0x73, 0x6d]);
});
