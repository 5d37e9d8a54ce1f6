// Drives the customer tracking page in real Chromium: the stepper and timeline are
// there, an event posted through the API shows up without a reload, the language
// switch works, a bad link is refused. Screenshots go to $SCREENSHOTS.
//
// Run by crates/waybill/tests/browser.rs with WAYBILL_URL, WAYBILL_KEY, SCREENSHOTS.
import { chromium } from "playwright-core";
import assert from "node:assert/strict";

const base = process.env.WAYBILL_URL;
const key = process.env.WAYBILL_KEY;
const shots = process.env.SCREENSHOTS;
const auth = { authorization: `Bearer ${key}`, "content-type": "application/json" };

async function api(path, body) {
  const r = await fetch(`${base}${path}`, { method: body ? "POST" : "GET", headers: auth, body: body && JSON.stringify(body) });
  const text = await r.text();
  assert.ok(r.status < 300, `${path} answered ${r.status}: ${text}`);
  return JSON.parse(text);
}

const order = await api("/v1/orders", { order_id: "B-1", customer: { email: "li@example.com" } });
for (const [status, at, location] of [
  ["picked_up", "2026-11-26T10:02:00+08:00", "深圳市南山区"],
  ["in_transit", "2026-11-26T20:00:00+08:00", "广州转运中心"],
]) {
  await api("/v1/events", { order_id: "B-1", carrier: "sf-express", tracking_number: "SF900", status, occurred_at: at, location });
}

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: ["--no-sandbox"] });
try {
  const page = await browser.newPage({ locale: "zh-CN", viewport: { width: 390, height: 844 } });
  const errors = [];
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  page.on("pageerror", (e) => errors.push(String(e)));
  const resp = await page.goto(order.tracking_url);
  assert.equal(resp.status(), 200);
  assert.equal(await page.textContent("p.status"), "运输中");
  assert.equal(await page.textContent("ol.stepper li.current"), "运输中");
  assert.equal(await page.locator("ol.timeline li").count(), 2);
  assert.equal(await page.textContent(".parcel h2 .carrier"), "顺丰速运");
  await page.screenshot({ path: `${shots}/track-zh.png`, fullPage: true });

  // A change arrives through the stream and is swapped in: no reload.
  await page.evaluate(() => { window.__sameDocument = true; });
  await api("/v1/events", { order_id: "B-1", carrier: "sf-express", tracking_number: "SF900", status: "out_for_delivery", occurred_at: "2026-11-27T08:00:00+08:00", location: "深圳南山营业部" });
  await page.waitForFunction(() => document.querySelector("p.status")?.textContent === "派送中", null, { timeout: 10000 });
  assert.equal(await page.evaluate(() => window.__sameDocument), true, "the page reloaded");
  assert.equal(await page.locator("ol.timeline li").count(), 3);
  assert.equal(await page.textContent("ol.stepper li.current"), "派送中");

  // Times are shown in the viewer's zone (the script rewrote the server's text).
  const shown = await page.textContent("ol.timeline li time");
  assert.ok(!shown.includes("+08:00"), `time not localised: ${shown}`);

  // The language switch.
  await page.click("text=English");
  await page.waitForSelector("html[lang=en]");
  assert.equal(await page.textContent("p.status"), "Out for delivery");
  assert.equal(await page.textContent(".parcel h2 .carrier"), "SF Express");
  await page.screenshot({ path: `${shots}/track-en.png`, fullPage: true });

  assert.deepEqual(errors, [], `browser errors: ${errors.join("; ")}`);

  // A tampered link is refused.
  const bad = await page.goto(order.tracking_url.replace("?t=", "?t=9"));
  assert.equal(bad.status(), 403);
  assert.equal(await page.locator("header nav a").count(), 2, "the refusal has the language switch");
  assert.ok((await page.textContent("p.banner")).includes("无效"), "the refusal in Chinese");
  await page.click("text=English");
  await page.waitForSelector("html[lang=en]");
  assert.ok((await page.textContent("p.banner")).includes("not valid"), "the refusal in English");
  await page.screenshot({ path: `${shots}/track-refused.png` });

  // The lookup form and the home page, styled.
  await page.goto(`${base}/track?lang=en`);
  const input = await page.evaluate(() => getComputedStyle(document.querySelector("form.parcel input")).borderTopLeftRadius);
  assert.notEqual(input, "0px", "the form's inputs are styled");
  await page.screenshot({ path: `${shots}/lookup.png` });
  await page.goto(`${base}/?lang=en`);
  assert.equal(await page.locator("ul.home a").count(), 5);
  await page.screenshot({ path: `${shots}/home.png` });
  console.log("tracking page: ok");

  // The dashboard: sign in with the admin key, see the numbers move.
  const ops = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  await ops.goto(`${base}/dashboard`);
  await ops.fill("input[name=key]", key);
  await ops.click("button[type=submit]");
  await ops.waitForSelector("#dashboard");
  const cookies = await ops.context().cookies();
  const session = cookies.find((c) => c.name === "wb_session");
  assert.ok(session && session.httpOnly && session.sameSite === "Strict", "an HTTP-only, same-site session");
  const before = Number(await ops.textContent("#exceptions"));
  await ops.evaluate(() => { window.__sameDocument = true; });
  await api("/v1/events", { order_id: "B-2", carrier: "zto-express", tracking_number: "ZT555", status: "exception", location: "杭州" });
  await ops.waitForFunction((n) => Number(document.querySelector("#exceptions")?.textContent) > n, before, { timeout: 15000 });
  assert.equal(await ops.evaluate(() => window.__sameDocument), true, "the dashboard reloaded");
  await ops.screenshot({ path: `${shots}/dashboard.png`, fullPage: true });
  // Words, not slugs; and on a phone the chart's labels stay readable.
  const labels = await ops.$$eval("table.bars th", (ths) => ths.map((t) => t.textContent));
  assert.ok(labels.includes("Out for delivery") && labels.includes("Problem in transit") && !labels.some((l) => l.includes("_")), `labels: ${labels}`);
  await ops.setViewportSize({ width: 390, height: 844 });
  const size = await ops.evaluate(() => parseFloat(getComputedStyle(document.querySelector("table.bars th")).fontSize));
  assert.ok(size >= 12, `chart labels at ${size}px on a phone`);
  // A text laid out on more than one line has more than one client rect.
  const wraps = await ops.evaluate(() => [...document.querySelectorAll("td.id")].some((td) => {
    const walk = document.createTreeWalker(td, NodeFilter.SHOW_TEXT);
    for (let n = walk.nextNode(); n; n = walk.nextNode()) {
      const r = document.createRange();
      r.selectNodeContents(n);
      if (r.getClientRects().length > 1) return true;
    }
    return false;
  }));
  assert.equal(wraps, false, "ids and times do not wrap");
  await ops.screenshot({ path: `${shots}/dashboard-phone.png`, fullPage: true });
  console.log("dashboard: ok");

  // An exception: the newest dot and the stepper's current step turn red, not green.
  await api("/v1/events", { order_id: "B-1", carrier: "sf-express", tracking_number: "SF900", status: "exception", occurred_at: "2026-11-27T12:00:00+08:00", location: "深圳南山营业部", description: "地址不详，联系收件人中" });
  await page.goto(`${order.tracking_url}&lang=en`);
  assert.equal(await page.textContent("p.status"), "Problem in transit");
  const dot = await page.evaluate(() => getComputedStyle(document.querySelector("ol.timeline li"), "::before").backgroundColor);
  assert.equal(dot, "rgb(214, 69, 65)", `the exception's dot is ${dot}`);
  const step = await page.evaluate(() => getComputedStyle(document.querySelector("ol.stepper li.current")).borderTopColor);
  assert.equal(step, "rgb(214, 69, 65)", `the current step is ${step}`);
  await page.screenshot({ path: `${shots}/track-exception.png`, fullPage: true });
  console.log("exception: ok");
} finally {
  await browser.close();
}
