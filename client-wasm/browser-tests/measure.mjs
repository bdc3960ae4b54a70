// The browser client's figures in BENCHMARKS.md, against a running `bench localnet --web`:
//   node client-wasm/browser-tests/measure.mjs http://127.0.0.1:PORT/
// prints the page start time, page load to first message delivered, packets built per second
// in Chromium (benchPacketBuild), and the CPU of one idle page sending cover over 30 s (every
// Chromium process's utime+stime from /proc).
import { chromium } from 'playwright-core';
import fs from 'node:fs';
const url = process.argv[2];
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox','--disable-gpu','--disable-quic','--no-first-run','--disable-sync','--disable-background-networking','--disable-component-update'] });
const context = await browser.newContext();
async function open(u) {
  const p = await context.newPage();
  const t0 = Date.now();
  await p.goto(u);
  await p.waitForFunction(() => window.mixnet !== undefined || window.mixnetError !== undefined, null, { timeout: 120000 });
  return [p, Date.now() - t0];
}
const [b, tb] = await open(url);
const addrB = await b.evaluate(() => window.mixnet.selfAddress());
await b.evaluate(() => { window.first = new Promise((r) => window.mixnet.onMessage((m) => r(Date.now()))); });
const t0 = Date.now();
const [a, ta] = await open(url);
await a.evaluate((to) => window.mixnet.send(to, 'first'), addrB);
const arrived = await b.evaluate(() => window.first);
console.log(`page start (genesis, topology, registration, credential): ${ta} ms (second page), ${tb} ms (first page)`);
console.log(`page load to first message delivered: ${arrived - t0} ms`);
const ms = await a.evaluate(async () => { const m = await import('/pkg/client_wasm.js'); await m.default(); m.benchPacketBuild(200); return m.benchPacketBuild(2000); });
console.log(`chromium: 2000 packets in ${ms.toFixed(1)} ms: ${(2000 / ms * 1000).toFixed(0)} packets/s`);
await a.close();
// CPU of one idle page (b) over 30 s: all chromium processes' utime+stime
function cpuTicks() {
  let total = 0;
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const comm = fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
      if (!comm.startsWith('chrom')) continue;
      const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      total += Number(f[11]) + Number(f[12]);
    } catch {}
  }
  return total;
}
const s0 = await b.evaluate(() => window.mixnet.stats());
const c0 = cpuTicks(); const w0 = Date.now();
await new Promise((r) => setTimeout(r, 30000));
const c1 = cpuTicks(); const w1 = Date.now();
const s1 = await b.evaluate(() => window.mixnet.stats());
const hz = 100;
console.log(`idle page, 30 s: ${((c1 - c0) / hz / ((w1 - w0) / 1000) * 100).toFixed(1)} % of one core (all Chromium processes), ${(s1.loopCoverSent - s0.loopCoverSent)} cover packets sent (${((s1.loopCoverSent - s0.loopCoverSent) / ((w1 - w0) / 1000)).toFixed(1)}/s)`);
await browser.close();
