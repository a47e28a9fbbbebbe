//! Headless Chromium for the HTML report tests: loads a page from disk (no network), returns the
//! DOM it built or checks a screenshot. Chromium is installed by `cargo xtask setup`; without it
//! these tests fail and say so.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

/// The Chromium binary: `$CHROMIUM` or `/usr/bin/chromium`.
pub fn chromium() -> PathBuf {
    let path = std::env::var_os("CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    assert!(
        path.is_file(),
        "headless Chromium not found at {} (set CHROMIUM or run `cargo xtask setup`, which installs it)",
        path.display()
    );
    path
}

/// Runs headless Chromium on `page` with `args`, offline and with a throw-away profile.
pub fn headless(page: &Path, args: &[&str]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The DOM as Chromium built it.
pub fn dom(page: &Path) -> String {
    headless(page, &["--dump-dom"])
}

/// A screenshot of the page; asserts it is not blank and returns the share of non-white pixels.
pub fn screenshot(page: &Path, png: &Path) -> f64 {
    headless(page, &["--window-size=1300,4400", &format!("--screenshot={}", png.display())]);
    let img = image::open(png).unwrap().to_luma8();
    let n = f64::from(img.width() * img.height());
    let mean = img.pixels().map(|p| f64::from(p.0[0])).sum::<f64>() / n;
    let var = img.pixels().map(|p| (f64::from(p.0[0]) - mean).powi(2)).sum::<f64>() / n;
    let inked = img.pixels().filter(|p| p.0[0] < 200).count() as f64 / n;
    assert!(var > 100.0 && inked > 0.01, "the screenshot looks blank: variance {var:.1}, inked {inked:.4}");
    inked
}
