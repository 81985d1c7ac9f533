// Browser test of the web dashboard: a real coordinator (with --http) and a
// real node upscale a real clip while headless Chromium, driven by
// playwright-core, watches the page. Checks that the job shows up, that its
// progress moves without a reload, that the before/after preview images
// load, and saves screenshots to docs/.
//
// Environment: ANIFARM_BIN (folder of the binaries), ANIFARM_MODELS,
// PLAYWRIGHT_CORE (path of the installed playwright-core package),
// CHROMIUM (default /usr/bin/chromium), SCREENSHOT_DIR (default: none).
'use strict';
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { chromium } = require(process.env.PLAYWRIGHT_CORE || 'playwright-core');

const bin = process.env.ANIFARM_BIN;
const models = process.env.ANIFARM_MODELS;
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'anifarm-web-'));
const children = [];
let passed = 0, failed = 0;

function check(ok, what) {
  if (ok) { passed++; console.log('ok   ' + what); } else { failed++; console.log('FAIL ' + what); }
}
function freePort() {
  return new Promise(resolve => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address(); server.close(() => resolve(port));
    });
  });
}
function start(name, args) {
  const log = fs.openSync(path.join(work, name + '.log'), 'w');
  const child = spawn(path.join(bin, args[0]), args.slice(1), { stdio: ['ignore', log, log] });
  children.push(child);
  return child;
}
const sleep = ms => new Promise(r => setTimeout(r, ms));

async function main() {
  const grpcPort = await freePort(), httpPort = await freePort();
  const address = '127.0.0.1:' + grpcPort;
  const clip = path.join(work, 'clip.mp4');
  execFileSync(path.join(bin, 'anifarm'), ['sample', clip, '--frames', '96', '--size', '192x112']);
  start('coordinator', ['anifarm-coordinator', '--listen', address, '--state-dir', path.join(work, 'state'),
    '--models-dir', models, '--chunk-frames', '12', '--http', '127.0.0.1:' + httpPort]);
  start('node', ['anifarm-node', '--coordinator', address, '--cache-dir', path.join(work, 'cache')]);
  await sleep(1000);
  const jobId = execFileSync(path.join(bin, 'anifarm'),
    ['submit', clip, '-o', path.join(work, 'out.mp4'), '--coordinator', address]).toString().trim();
  check(/^job-/.test(jobId), 'submit printed a job id (' + jobId + ')');

  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.goto('http://127.0.0.1:' + httpPort + '/');
    const row = page.locator('tr.job[data-id="' + jobId + '"]');
    await row.waitFor({ timeout: 30000 });
    check(true, 'the job appears in the jobs table');

    // Progress must move while the page stays loaded.
    const progressText = async () => (await row.locator('td').nth(3).innerText()).trim();
    const first = await progressText();
    let moved = false;
    for (let i = 0; i < 240 && !moved; i++) {
      await sleep(500);
      moved = (await progressText()) !== first;
    }
    check(moved, 'progress moves without a reload (' + first + ' -> ' + (await progressText()) + ')');

    await page.locator('#after').waitFor({ timeout: 120000 });
    const loaded = async sel => page.$eval(sel, img => img.complete && img.naturalWidth > 0).catch(() => false);
    let previews = false;
    for (let i = 0; i < 60 && !previews; i++) {
      await sleep(500);
      previews = (await loaded('#after')) && (await loaded('#before-img'));
    }
    check(previews, 'the before/after preview images load');
    const sizes = await page.$eval('#after', img => [img.naturalWidth, img.naturalHeight]);
    check(sizes[0] === 384 && sizes[1] === 224, 'the upscaled preview is 2x the source (' + sizes + ')');
    check(await page.locator('.chunk').count() === 8, 'the chunk map shows the 8 chunks');
    if (process.env.SCREENSHOT_DIR) {
      await page.screenshot({ path: path.join(process.env.SCREENSHOT_DIR, 'dashboard-running.png') });
    }
    let done = false;
    for (let i = 0; i < 600 && !done; i++) {
      await sleep(500);
      done = (await row.locator('td.state').innerText()).trim() === 'done';
    }
    check(done, 'the job reaches done on the page');
    if (process.env.SCREENSHOT_DIR) {
      await page.screenshot({ path: path.join(process.env.SCREENSHOT_DIR, 'dashboard-done.png') });
    }
    const metrics = await (await page.request.get('http://127.0.0.1:' + httpPort + '/metrics')).text();
    check(/anifarm_jobs\{state="done"\} 1/.test(metrics), '/metrics counts the finished job');
  } finally {
    await browser.close();
  }
}

main().catch(e => { failed++; console.log('FAIL ' + e.stack); }).finally(() => {
  for (const child of children) child.kill('SIGTERM');
  console.log(`${passed} passed, ${failed} failed`);
  if (failed) console.log('logs kept in ' + work); else fs.rmSync(work, { recursive: true, force: true });
  process.exitCode = failed ? 1 : 0;
});
