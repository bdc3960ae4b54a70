//! The browser client (`client-wasm`) in Debian's Chromium, driven by playwright-core
//! (`client-wasm/browser-tests/drive.mjs`), on a local mixnet of real processes on loopback
//! (three gateways: native clients on the first two, page A alone on the third; Sphinx keys
//! rotating every 20 s), one scenario after another:
//!
//! 1. pages A and B start from the demo page (credentials bought in WebAssembly, addresses);
//!    A's text reaches B's `messages` element; binary and text both arrive as sent; a
//!    200 KB message arrives whole;
//! 2. an anonymous message from A is answered by B through SURBs; A sees a reply;
//! 3. a native client and page A exchange messages both ways;
//! 4. bad input through the JS API: a garbage address, a message that is neither text nor
//!    bytes, a client with no bandwidth: rejected promises with clear messages;
//! 5. cover traffic: page A's gateway forwards, from A alone, packets at the configured mean
//!    rate (real-stream idle slots plus the loop stream) within statistical bounds over 30 s,
//!    and A's cover comes back through the mixnet across key rotations, with the page idle, and again with the page's main thread blocked for the whole window
//!    (the client runs in a dedicated worker: a throttled or busy page does not stop it;
//!    headless Chromium keeps every tab visible, so a background tab cannot be made here);
//! 6. A second tab cannot run A's stored identity while A runs (a Web Lock); A's address
//!    survives a reload (keys in IndexedDB);
//! 7. A's gateway goes away: sending is refused with a message naming it; the gateway comes
//!    back, A reconnects by itself and its message arrives.
//!
//! Needs Chromium (`/usr/bin/chromium`), Node.js and `npm ci` in `client-wasm/browser-tests`;
//! skipped without them unless `REQUIRE_BROWSER=1` (CI sets it and installs them).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use testnet::web::{build_package, WebServer};
use testnet::{AppConnection, ClientTiming, Network, Options};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// The tests' own directory of the driver.
fn driver_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../client-wasm/browser-tests")
}

/// Whether Chromium, Node.js and playwright-core are here; with `REQUIRE_BROWSER` set their
/// absence fails instead of skipping.
fn browser_available() -> bool {
    let chromium = std::env::var_os("CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    let node = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let playwright = driver_dir().join("node_modules/playwright-core").exists();
    let ok = chromium.exists() && node && playwright;
    if !ok {
        assert!(
            std::env::var_os("REQUIRE_BROWSER").is_none(),
            "the browser test needs {} ({}), node ({node}) and playwright-core \
             (npm ci --prefix client-wasm/browser-tests: {playwright})",
            chromium.display(),
            chromium.exists()
        );
        eprintln!("skipping the browser test: Chromium, node or playwright-core is missing");
    }
    ok
}

/// Chromium under remote control.
struct Browser {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Browser {
    fn start() -> Browser {
        let mut child = Command::new("node")
            .arg(driver_dir().join("drive.mjs"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("starting node");
        let stdin = child.stdin.take().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Browser {
            child,
            stdin,
            lines,
        }
    }

    /// One command; its value, or the error the driver reported.
    async fn ask(&mut self, command: Value) -> Result<Value, String> {
        let line = format!("{command}\n");
        self.stdin.write_all(line.as_bytes()).await.unwrap();
        let answer = tokio::time::timeout(Duration::from_secs(180), self.lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("the browser did not answer {command} in 180 s"))
            .unwrap()
            .expect("the browser driver exited");
        let answer: Value = serde_json::from_str(&answer).unwrap();
        if answer["ok"] == json!(true) {
            Ok(answer["value"].clone())
        } else {
            Err(answer["error"].as_str().unwrap_or("?").to_owned())
        }
    }

    /// Opens the demo page at `url` as `page`; its address.
    async fn open(&mut self, page: &str, url: &str) -> String {
        let address = self
            .ask(json!({"op": "open", "page": page, "url": url}))
            .await
            .unwrap_or_else(|e| panic!("page {page} did not start: {e}"));
        self.run(page, COLLECT).await;
        address.as_str().unwrap().to_owned()
    }

    /// Runs `body` (an async function's body) in `page`.
    async fn try_run(&mut self, page: &str, body: &str) -> Result<Value, String> {
        self.ask(json!({"op": "run", "page": page, "body": body}))
            .await
    }

    async fn run(&mut self, page: &str, body: &str) -> Value {
        self.try_run(page, body)
            .await
            .unwrap_or_else(|e| panic!("in page {page}: {e}\n{body}"))
    }

    /// The next received message matching `predicate` (a JS expression over `m`), within
    /// `secs`.
    async fn next_message(&mut self, page: &str, predicate: &str, secs: u64) -> Value {
        let body = format!("return await window.nextMessage((m) => {predicate}, {secs}000);");
        self.run(page, &body).await
    }

    async fn quit(mut self) {
        let _ = self.stdin.write_all(b"{\"op\":\"quit\"}\n").await;
        let _ = tokio::time::timeout(Duration::from_secs(20), self.child.wait()).await;
    }
}

/// Installed in every page: received messages kept in `window.got` (bytes as arrays), and
/// `window.nextMessage(predicate, ms)`, resolved by the client's message events.
const COLLECT: &str = r#"
  window.got = [];
  const waiters = new Set();
  window.mixnet.onMessage((m) => {
    const text = typeof m.message === 'string';
    window.got.push({ text, message: text ? m.message : Array.from(m.message),
                      senderTag: m.senderTag, isReply: m.isReply });
    for (const w of [...waiters]) { w(); }
  });
  window.nextMessage = (predicate, ms) => new Promise((resolve, reject) => {
    const check = () => {
      const i = window.got.findIndex(predicate);
      if (i < 0) { return; }
      const [m] = window.got.splice(i, 1);
      waiters.delete(check);
      clearTimeout(timer);
      resolve(m);
    };
    const timer = setTimeout(() => {
      waiters.delete(check);
      reject(new Error(`no such message within ${ms} ms; got ${JSON.stringify(window.got).slice(0, 300)}`));
    }, ms);
    waiters.add(check);
    check();
  });
  return null;
"#;

/// `await window.mixnet.<call>`'s error message (the call must reject).
async fn rejection(browser: &mut Browser, page: &str, call: &str) -> String {
    let body = format!(
        "try {{ await window.mixnet.{call}; return 'resolved'; }} catch (e) {{ return e.message; }}"
    );
    let message = browser.run(page, &body).await;
    let message = message.as_str().unwrap().to_owned();
    assert_ne!(message, "resolved", "{call} was accepted");
    message
}

/// Waits until the page's gateway link is up (`true`) or down: the link events, after the
/// state as it is (the listener is in place before the state is read).
fn link_state(connected: bool) -> String {
    format!(
        "return await new Promise((resolve, reject) => {{
           const done = (error) => {{
             clearTimeout(timer);
             off();
             if (error) {{ reject(error); }} else {{ resolve(null); }}
           }};
           const timer = setTimeout(
             () => done(new Error('the link was not connected={connected} within 60 s')), 60000);
           const off = window.mixnet.onEvent((e) => {{
             if (e.type === 'link' && e.connected === {connected}) {{ done(); }}
           }});
           window.mixnet.stats().then(
             (s) => {{ if (s.connected === {connected}) {{ done(); }} }},
             (e) => done(e));
         }});"
    )
}

/// Packets gateway `index` forwarded from its clients.
async fn forwarded(net: &Network, index: usize) -> f64 {
    let samples = net.scrape_gateways().await;
    let samples = samples[index].as_ref().expect("the gateway's metrics");
    samples["gateway_client_packets_forwarded_total"]
}

/// Checks that `count` packets in `secs` fit a Poisson stream of `rate` per second: within
/// five standard deviations (a false alarm once in millions of runs).
fn assert_poisson(count: f64, rate: f64, secs: f64, what: &str) {
    let expected = rate * secs;
    let bound = 5.0 * expected.sqrt();
    assert!(
        (count - expected).abs() <= bound,
        "{what}: {count} packets in {secs} s, expected {expected:.0} ± {bound:.0}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_browser_client_in_chromium() {
    if !browser_available() {
        return;
    }
    let root = build_package(true).await.unwrap();
    let timing = ClientTiming {
        send_gap_ms: Some(50.0),
        loop_cover_gap_ms: Some(200.0),
        per_hop_delay_ms: Some(5.0),
    };
    let options = Options {
        clients: 2,
        gateways: 3,
        mixnodes_per_layer: 1,
        validators: 3,
        threshold: 2,
        duration: Some(Duration::ZERO),
        progress: false,
        web: true,
        tls: false,
        client_timing: timing,
        // Keys rotate every 20 s (five epochs): the pages must follow the topology to keep
        // their packets deliverable.
        key_rotation: Duration::from_secs(20),
        ..Options::default()
    };
    let mut net = Network::start(&options).await.unwrap();
    let web = WebServer::start(&net, &root).await.unwrap();
    let gateways: Vec<String> = net.gateways().map(|g| g.identity_key.clone()).collect();
    let mut browser = Browser::start();

    // 1. Two pages, credentials and addresses; text, binary, 200 KB.
    let url_a = format!("{}?storage=alice&gateway={}", web.url(), gateways[2]);
    let address_a = browser.open("a", &url_a).await;
    let address_b = browser
        .open("b", &format!("{}?gateway={}", web.url(), gateways[0]))
        .await;
    assert!(
        address_a.ends_with(&format!("@{}", gateways[2])),
        "{address_a}"
    );
    assert!(
        address_b.ends_with(&format!("@{}", gateways[0])),
        "{address_b}"
    );
    let stats = browser
        .run("a", "return await window.mixnet.stats();")
        .await;
    assert!(stats["bandwidth"].as_u64().unwrap() > 0, "{stats}");

    // Through the page's own form, into its `messages` element.
    let typed = format!(
        "document.getElementById('recipient').value = {};
         document.getElementById('message').value = 'hello from the form';
         document.getElementById('send').click(); return null;",
        json!(address_b)
    );
    browser.run("a", &typed).await;
    let shown = browser
        .run(
            "b",
            "const list = document.getElementById('messages');
             if (list.children.length === 0) {
               await new Promise((resolve, reject) => {
                 const observer = new MutationObserver(() => {
                   if (list.children.length > 0) { clearTimeout(timer); observer.disconnect(); resolve(); }
                 });
                 const timer = setTimeout(() => {
                   observer.disconnect();
                   reject(new Error('nothing shown in #messages within 60 s'));
                 }, 60000);
                 observer.observe(list, { childList: true });
               });
             }
             return Array.from(list.children).map((c) => c.textContent);",
        )
        .await;
    assert_eq!(shown, json!(["hello from the form"]));
    let plain = browser
        .next_message("b", "m.message === 'hello from the form'", 5)
        .await;
    assert_eq!(
        plain["senderTag"],
        Value::Null,
        "a plain message names no sender tag"
    );
    assert_eq!(plain["isReply"], json!(false));

    let send_bytes = format!(
        "await window.mixnet.send({}, new Uint8Array([0, 1, 2, 250, 255])); return null;",
        json!(address_b)
    );
    browser.run("a", &send_bytes).await;
    let got = browser.next_message("b", "!m.text", 60).await;
    assert_eq!(got["message"], json!([0, 1, 2, 250, 255]));
    assert_eq!(got["isReply"], json!(false));

    let big = format!(
        "const text = Array.from({{ length: 200000 }}, (_, i) => String.fromCharCode(97 + (i * 7) % 26)).join('');
         await window.mixnet.send({}, text); return null;",
        json!(address_b)
    );
    browser.run("a", &big).await;
    let whole = browser
        .run(
            "b",
            "const m = await window.nextMessage((m) => m.text && m.message.length > 1000, 120000);
             const want = Array.from({ length: 200000 }, (_, i) => String.fromCharCode(97 + (i * 7) % 26)).join('');
             return m.message === want;",
        )
        .await;
    assert_eq!(whole, json!(true), "the 200 KB message arrived changed");

    // 2. Anonymous, answered through SURBs.
    let anonymous = format!(
        "await window.mixnet.sendAnonymous({}, 'who are you?', 20); return null;",
        json!(address_b)
    );
    browser.run("a", &anonymous).await;
    let question = browser
        .next_message("b", "m.message === 'who are you?'", 60)
        .await;
    let tag = question["senderTag"]
        .as_str()
        .expect("an anonymous message has a tag");
    let answer = format!(
        "await window.mixnet.reply({}, 'a friend'); return null;",
        json!(tag)
    );
    browser.run("b", &answer).await;
    let reply = browser
        .next_message("a", "m.message === 'a friend'", 60)
        .await;
    assert_eq!(reply["isReply"], json!(true));

    // 3. A native client and a browser client, both ways.
    let mut native =
        AppConnection::connect(&net.client_ws_url(1).unwrap(), Duration::from_secs(10))
            .await
            .unwrap();
    let native_address = native.self_address(Duration::from_secs(10)).await.unwrap();
    native
        .send(&address_a, "from the native client")
        .await
        .unwrap();
    browser
        .next_message("a", "m.message === 'from the native client'", 60)
        .await;
    let to_native = format!(
        "await window.mixnet.send({}, 'from the browser'); return null;",
        json!(native_address)
    );
    browser.run("a", &to_native).await;
    let got = native.next_received(Duration::from_secs(60)).await.unwrap();
    assert_eq!(got.as_deref(), Some("from the browser"));

    // 4. Bad input.
    let garbage = rejection(&mut browser, "a", "send('not an address', 'x')").await;
    assert!(garbage.contains("bad address"), "{garbage}");
    let number = rejection(
        &mut browser,
        "a",
        &format!("send({}, 42)", json!(address_b)),
    )
    .await;
    assert!(number.contains("string or a Uint8Array"), "{number}");
    let no_tag = rejection(&mut browser, "a", "reply('abc', 'x')").await;
    assert!(no_tag.contains("not a sender tag"), "{no_tag}");
    let validators: Vec<String> = net.validators().map(|v| v.url.clone()).collect();
    let unfunded = format!(
        "const {{ MixnetClient }} = await import('/js/mixnet.js');
         const c = await MixnetClient.start({{ validators: {} }});
         try {{ await c.send({}, 'x'); return 'sent'; }}
         catch (e) {{ return e.message; }}
         finally {{ await c.stop(); }}",
        json!(validators),
        json!(address_b)
    );
    let refused = browser.run("b", &unfunded).await;
    assert!(
        refused.as_str().unwrap().contains("no bandwidth"),
        "{refused}"
    );
    let bad_options = browser
        .try_run(
            "b",
            "const { MixnetClient } = await import('/js/mixnet.js');
             await MixnetClient.start({ validators: ['ftp://x'] });",
        )
        .await
        .unwrap_err();
    assert!(bad_options.contains("options.validators"), "{bad_options}");

    // 5. Cover traffic at the configured rate: with the page idle, then with its main thread
    // blocked for the whole window (harsher than a background tab's throttling, which
    // headless Chromium does not apply: it keeps every tab visible).
    let rate = 1000.0 / timing.send_gap_ms.unwrap() + 1000.0 / timing.loop_cover_gap_ms.unwrap();
    for blocked in [false, true] {
        if blocked {
            browser
                .run(
                    "a",
                    "setTimeout(() => { const end = Date.now() + 31000; while (Date.now() < end) {} }, 0);
                     return null;",
                )
                .await;
        }
        let stats_before = if blocked {
            None
        } else {
            Some(
                browser
                    .run("a", "return await window.mixnet.stats();")
                    .await,
            )
        };
        let before = forwarded(&net, 2).await;
        let window = tokio::time::Instant::now();
        tokio::time::sleep(Duration::from_secs(30)).await;
        let count = forwarded(&net, 2).await - before;
        let secs = window.elapsed().as_secs_f64();
        let what = if blocked {
            "main thread blocked"
        } else {
            "idle"
        };
        assert_poisson(count, rate, secs, &format!("page A's cover, {what}"));
        if let Some(before) = stats_before {
            // The cover came back through the mixnet across key rotations: each loop packet
            // and its SURB-ACK (a few still in flight at the window's end).
            let after = browser
                .run("a", "return await window.mixnet.stats();")
                .await;
            let delta = |k: &str| after[k].as_f64().unwrap() - before[k].as_f64().unwrap();
            let (sent, back) = (delta("loopCoverSent"), delta("coverReceived"));
            assert!(
                back >= 1.8 * sent,
                "{sent} cover packets sent, {back} came back"
            );
        }
    }
    // The page answers again once its main thread is free.
    browser.run("a", "return null;").await;

    // 6. One tab at a time runs a stored identity; the address survives a reload.
    let second = format!(
        "const {{ MixnetClient }} = await import('/js/mixnet.js');
         await MixnetClient.start({{ validators: {}, storage: 'alice' }});",
        json!(validators)
    );
    let locked = browser.try_run("b", &second).await.unwrap_err();
    assert!(
        locked.contains("already running in another tab"),
        "{locked}"
    );
    browser
        .ask(json!({"op": "close", "page": "a"}))
        .await
        .unwrap();
    let again = browser.open("a", &url_a).await;
    assert_eq!(again, address_a);

    // 7. The gateway goes away and comes back.
    net.stop_gateway(2).await.unwrap();
    browser.run("a", &link_state(false)).await;
    let unreachable = rejection(
        &mut browser,
        "a",
        &format!("send({}, 'x')", json!(address_b)),
    )
    .await;
    assert!(unreachable.contains("unreachable"), "{unreachable}");
    net.start_gateway(2).await.unwrap();
    browser.run("a", &link_state(true)).await;
    let after = format!(
        "await window.mixnet.send({}, 'back again'); return null;",
        json!(address_b)
    );
    browser.run("a", &after).await;
    browser
        .next_message("b", "m.message === 'back again'", 60)
        .await;

    browser.quit().await;
    drop(web);
    net.stop().await;
}
