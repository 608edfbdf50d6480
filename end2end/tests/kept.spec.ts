// What is kept (docs/API.md): one node on SQLite, as `scripts/run` starts it, keeps the
// conversation across a crash and a restart, and an open page goes on where it was.
import { test, expect, signIn, openRoom, say, messageTexts, connection, postAs } from './fixtures';

test('a conversation is still there after the server is killed and started again', async ({ page, chat }) => {
  const node = await chat.node({ REDIS_URL: '' });
  await signIn(page.context(), node, 'mira');
  await openRoom(page, node, 'kept');
  await say(page, 'before the crash');
  await expect(messageTexts(page)).toHaveText(['before the crash']);
  await postAs(node, 'sam', 'kept', ['sam was here']);
  await expect(messageTexts(page)).toHaveText(['before the crash', 'sam was here']);

  await node.kill();
  await expect(connection(page)).not.toHaveText('live');
  await node.start();

  // The open page reconnects by itself, with the same session, and goes on.
  await expect(connection(page)).toHaveText('live', { timeout: 15_000 });
  await say(page, 'after the restart');
  await expect(messageTexts(page)).toHaveText(['before the crash', 'sam was here', 'after the restart']);
  await postAs(node, 'sam', 'kept', ['and so was sam']);
  const all = ['before the crash', 'sam was here', 'after the restart', 'and so was sam'];
  await expect(messageTexts(page)).toHaveText(all);
  await page.reload();
  await expect(messageTexts(page)).toHaveText(all);
});
