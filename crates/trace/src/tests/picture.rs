//! Issue 15 acceptance 7, the picture: headless Chromium renders the page
//! of each journey case in a 1,400 × 900 window; from the rendered DOM
//! (a probe script in a test-only copy of the page writes every marked
//! element's box into it), every hop's box lies inside the window and no
//! two labels overlap, nor a label and a box. A screenshot is taken too
//! (kept with LABYRINTH_KEEP_PICTURES=1, to look at).

use std::path::Path;
use std::process::Command;

use serde::Deserialize;

use crate::fixtures::{self, CASES};
use crate::present;

const TEST: &str = "picture_fits_1400_by_900_without_overlaps_in_chromium";
const WINDOW: (f64, f64) = (1400.0, 900.0);

/// Appended to the test's copy of the page only: the page itself has no
/// script.
const PROBE: &str = r#"<script>
window.addEventListener('load', () => {
  const at = e => { const b = e.getBoundingClientRect(); return {x: b.left, y: b.top, r: b.right, b: b.bottom}; };
  const out = {
    w: window.innerWidth, h: window.innerHeight,
    boxes: [...document.querySelectorAll('[data-box]')].map(e => ({what: e.dataset.box, text: e.textContent, ...at(e),
      name: at(e.querySelector(':scope > text') || e)})),
    labels: [...document.querySelectorAll('[data-label]')].map(e => ({what: e.dataset.label, text: e.textContent, ...at(e)})),
  };
  const pre = document.createElement('pre');
  pre.id = 'layout-probe';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"#;

#[derive(Debug, Deserialize, Clone, Copy)]
struct Rect {
    x: f64,
    y: f64,
    r: f64,
    b: f64,
}

#[derive(Debug, Deserialize)]
struct Marked {
    what: String,
    text: String,
    x: f64,
    y: f64,
    r: f64,
    b: f64,
    name: Option<Rect>,
}

impl Marked {
    fn rect(&self) -> Rect {
        Rect {
            x: self.x,
            y: self.y,
            r: self.r,
            b: self.b,
        }
    }
}

#[derive(Debug, Deserialize)]
struct Layout {
    w: f64,
    h: f64,
    boxes: Vec<Marked>,
    labels: Vec<Marked>,
}

fn overlap(a: Rect, b: Rect) -> bool {
    // Half a pixel of slack for antialiased edges that touch.
    a.x < b.r - 0.5 && b.x < a.r - 0.5 && a.y < b.b - 0.5 && b.y < a.b - 0.5
}

fn inside(a: Rect, outer: Rect) -> bool {
    a.x >= outer.x - 0.5 && a.y >= outer.y - 0.5 && a.r <= outer.r + 0.5 && a.b <= outer.b + 0.5
}

fn chromium(exe: &Path, args: &[String]) -> std::process::Output {
    Command::new("timeout")
        .arg("120")
        .arg(exe)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1400,900",
            "--virtual-time-budget=5000",
        ])
        .args(args)
        .output()
        .unwrap()
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

#[test]
fn picture_fits_1400_by_900_without_overlaps_in_chromium() {
    let Some(exe) = labyrinth_testkit::root::tool(TEST, "chromium") else {
        return;
    };
    let keep = std::env::var("LABYRINTH_KEEP_PICTURES").is_ok_and(|v| v == "1");
    let dir = std::env::temp_dir().join(format!("labyrinth-picture-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for case in CASES {
        let t = fixtures::trace(case);
        let page = present::html::render(&t);
        let probed = dir.join(format!("{case:?}-probed.html"));
        std::fs::write(&probed, page.replace("</body>", &format!("{PROBE}\n</body>"))).unwrap();
        let shown = dir.join(format!("{case:?}.html"));
        std::fs::write(&shown, &page).unwrap();

        let out = chromium(
            &exe,
            &["--dump-dom".into(), format!("file://{}", probed.display())],
        );
        let dom = String::from_utf8_lossy(&out.stdout);
        let json = dom
            .split_once(r#"<pre id="layout-probe">"#)
            .and_then(|(_, rest)| rest.split_once("</pre>"))
            .map(|(j, _)| unescape(j))
            .unwrap_or_else(|| {
                panic!(
                    "{case:?}: no probe in the DOM; chromium: {}",
                    String::from_utf8_lossy(&out.stderr)
                )
            });
        let l: Layout = serde_json::from_str(&json).unwrap();
        // A 1,400 × 900 window shows a viewport of its width and (in this
        // headless Chromium) 813 px of its height: the boxes must fit what
        // is shown, which is stricter than 900.
        assert_eq!(l.w, WINDOW.0, "{case:?}: the viewport's width");
        assert!(
            l.h > 0.8 * WINDOW.1 && l.h <= WINDOW.1,
            "{case:?}: the viewport's height {}",
            l.h
        );
        let window = Rect {
            x: 0.0,
            y: 0.0,
            r: l.w,
            b: l.h,
        };
        let main = present::main_packet(&t).unwrap();
        let hops: Vec<&Marked> = l.boxes.iter().filter(|b| b.what == "hop").collect();
        assert_eq!(hops.len(), main.hops.len(), "{case:?}: one box per hop");
        assert!(
            l.boxes.iter().any(|b| b.what == "dns-server"),
            "{case:?}: the DNS leg is drawn"
        );
        for b in &l.boxes {
            assert!(
                inside(b.rect(), window),
                "{case:?}: box {:?} outside the window: {b:?}",
                b.text
            );
            let name = b.name.expect("a box has its name");
            assert!(
                inside(name, b.rect()),
                "{case:?}: the name sticks out of its box: {b:?}"
            );
        }
        for (i, a) in l.labels.iter().enumerate() {
            assert!(
                inside(a.rect(), window),
                "{case:?}: label {:?} clipped: {a:?}",
                a.text
            );
            for b in &l.labels[i + 1..] {
                assert!(
                    !overlap(a.rect(), b.rect()),
                    "{case:?}: labels overlap:\n{a:?}\n{b:?}"
                );
            }
            for b in &l.boxes {
                assert!(
                    !overlap(a.rect(), b.rect()),
                    "{case:?}: label over a box:\n{a:?}\n{b:?}"
                );
            }
        }
        // Translation and encapsulation are written on the picture.
        let said = |what: &str| l.labels.iter().any(|x| x.text.contains(what));
        assert!(
            said("destination rewritten 10.96.0.20:9999 → 10.0.2.9:9999 (DNAT)"),
            "{case:?}"
        );
        if case != fixtures::Case::Native {
            assert!(
                said("encapsulated in VXLAN: outer 10.168.0.3 → 10.168.0.4 UDP 8472 VNI 1"),
                "{case:?}"
            );
        }
        // Node-0 carries none of the flow: no band of its own.
        assert!(!page.contains(r#"data-node="node-0""#), "{case:?}");

        let png = dir.join(format!("{case:?}.png"));
        let out = chromium(
            &exe,
            &[
                format!("--screenshot={}", png.display()),
                format!("file://{}", shown.display()),
            ],
        );
        let size = std::fs::metadata(&png).map(|m| m.len()).unwrap_or(0);
        assert!(
            size > 10_000,
            "{case:?}: no screenshot ({size} bytes): {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    if keep {
        eprintln!("pictures kept in {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
}
