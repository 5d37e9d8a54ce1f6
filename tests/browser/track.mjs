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
  await page.screenshot({ path: `${shots}/track-en.png`, fullPage: true });

  assert.deepEqual(errors, [], `browser errors: ${errors.join("; ")}`);

  // A tampered link is refused.
  const bad = await page.goto(order.tracking_url.replace("?t=", "?t=9"));
  assert.equal(bad.status(), 403);
  await page.screenshot({ path: `${shots}/track-refused.png` });
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
  console.log("dashboard: ok");
} finally {
  await browser.close();
}
