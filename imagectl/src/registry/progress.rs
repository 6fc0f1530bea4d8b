//! What a transfer tells the user: a bar per blob (indicatif) when stderr
//! is a terminal, otherwise one plain line per finished blob, so logs and
//! tests read the same thing. Output only; no transfer logic.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// `1536` → `1.5 KiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// `sha256:<64 hex>` → `sha256:<12 hex>`.
pub fn short_digest(d: &str) -> String {
    match d.split_once(':') {
        Some((a, h)) => format!("{a}:{}", &h[..h.len().min(12)]),
        None => d.chars().take(19).collect(),
    }
}

/// The whole transfer's display.
#[derive(Debug, Clone)]
pub struct Progress {
    multi: Option<MultiProgress>,
    quiet: bool,
}

impl Progress {
    /// Bars when stderr is a terminal and not `quiet`.
    pub fn new(quiet: bool) -> Progress {
        let tty = std::io::stderr().is_terminal();
        Progress {
            multi: (tty && !quiet)
                .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
            quiet,
        }
    }

    /// A line above the bars (or on stderr).
    pub fn line(&self, msg: &str) {
        if self.quiet {
            return;
        }
        match &self.multi {
            Some(m) => {
                let _ = m.println(msg);
            }
            None => eprintln!("{msg}"),
        }
    }

    /// One blob's progress; `verb` is "Copying" or "Pushing".
    pub fn blob(&self, verb: &str, digest: &str, size: u64) -> BlobProgress {
        let label = short_digest(digest);
        let bar = self.multi.as_ref().map(|m| {
            let b = m.add(ProgressBar::new(size));
            b.set_style(
                ProgressStyle::with_template(
                    "{prefix} {msg:>20} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
                )
                .expect("the template is valid")
                .progress_chars("=> "),
            );
            b.set_prefix(format!("{verb} blob"));
            b.set_message(label.clone());
            b.enable_steady_tick(Duration::from_millis(200));
            b
        });
        BlobProgress {
            bar,
            label,
            size,
            progress: self.clone(),
        }
    }
}

/// A bar, or nothing until the plain line at the end.
#[derive(Debug)]
pub struct BlobProgress {
    bar: Option<ProgressBar>,
    label: String,
    size: u64,
    progress: Progress,
}

impl BlobProgress {
    pub fn inc(&self, n: u64) {
        if let Some(b) = &self.bar {
            b.inc(n);
        }
    }

    /// A handle for code that must own it (a `'static` upload stream).
    pub fn counter(&self) -> Option<ProgressBar> {
        self.bar.clone()
    }

    /// Ends the blob with `what` ("done", "already present", "mounted").
    pub fn finish(self, what: &str) {
        match &self.bar {
            Some(b) => b.finish_with_message(format!("{} {what}", self.label)),
            None => self.progress.line(&format!(
                "blob {} ({}): {what}",
                self.label,
                human_bytes(self.size)
            )),
        }
    }

    /// Removes the bar of a failed transfer.
    pub fn abandon(self) {
        if let Some(b) = &self.bar {
            b.abandon_with_message(format!("{} failed", self.label));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_skopeo() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(300 * 1024 * 1024), "300.0 MiB");
        assert_eq!(human_bytes(5 << 40), "5.0 TiB");
    }

    #[test]
    fn digests_are_shortened_to_twelve_hex() {
        let d = format!("sha256:{}", "ab".repeat(32));
        assert_eq!(short_digest(&d), "sha256:abababababab");
        assert_eq!(short_digest("sha256:abc"), "sha256:abc");
    }
}
