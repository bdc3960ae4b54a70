// Remote control of Debian's Chromium for the browser client's end-to-end test
// (testnet/tests/browser.rs), with playwright-core.
//
// Reads one JSON command per line on stdin and answers each with one JSON line on stdout:
//   {"op":"open","page":NAME,"url":URL}      a new tab at URL; waits for the demo page to
//                                             start (window.mixnet) or fail
//   {"op":"run","page":NAME,"body":JS}        runs `async () => { JS }` in the page; answers
//                                             its (JSON) value
//   {"op":"close","page":NAME}               closes the tab
//   {"op":"quit"}
// Answers: {"ok":true,"value":...} or {"ok":false,"error":"..."}. Console errors of every
// page go to stderr, prefixed with the page's name.
import readline from 'node:readline';
import { chromium } from 'playwright-core';

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-sync',
    '--disable-background-networking',
    '--disable-component-update',
  ],
});
const context = await browser.newContext();
const pages = new Map();

function page(name) {
  const p = pages.get(name);
  if (p === undefined) {
    throw new Error(`no page ${name}`);
  }
  return p;
}

const operations = {
  async open({ page: name, url, timeoutMs }) {
    const p = await context.newPage();
    p.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') {
        process.stderr.write(`[${name}] ${m.type()}: ${m.text()}\n`);
      }
    });
    p.on('pageerror', (e) => process.stderr.write(`[${name}] page error: ${e.message}\n`));
    pages.set(name, p);
    await p.goto(url);
    await p.waitForFunction(() => window.mixnet !== undefined || window.mixnetError !== undefined,
      null, { timeout: timeoutMs ?? 120000 });
    const failed = await p.evaluate(() => window.mixnetError ?? null);
    if (failed !== null) {
      throw new Error(failed);
    }
    return p.evaluate(() => window.mixnet.selfAddress());
  },
  async run({ page: name, body }) {
    return page(name).evaluate(`(async () => { ${body} })()`);
  },
  async close({ page: name }) {
    await page(name).close();
    pages.delete(name);
    return null;
  },
};

const lines = readline.createInterface({ input: process.stdin });
for await (const line of lines) {
  if (line.trim() === '') {
    continue;
  }
  let answer;
  try {
    const command = JSON.parse(line);
    if (command.op === 'quit') {
      break;
    }
    const operation = operations[command.op];
    if (operation === undefined) {
      throw new Error(`unknown op ${command.op}`);
    }
    answer = { ok: true, value: (await operation(command)) ?? null };
  } catch (error) {
    answer = { ok: false, error: error instanceof Error ? error.message : String(error) };
  }
  process.stdout.write(`${JSON.stringify(answer)}\n`);
}
await browser.close();
