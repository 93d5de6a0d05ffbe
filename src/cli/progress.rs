//! Progress of `graph-ig explain` on stderr.
//!
//! - On a terminal: a bar, drawn from the first second (it ticks while a chunk runs).
//! - Without one (a log file, a scheduler): one plain line about every 10 s, with the
//!   graphs done, the rate and the time left; `GRAPH_IG_PROGRESS_SECONDS` sets another
//!   interval.
//! - `--quiet`: nothing.

use super::io::noteln;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The interval of the plain progress lines.
pub const PLAIN_INTERVAL: Duration = Duration::from_secs(10);

/// A running progress report; [`Progress::finish`] ends it.
pub enum Progress {
    /// Nothing is shown.
    Quiet,
    /// A terminal progress bar.
    Bar(ProgressBar),
    /// Plain lines from a thread.
    Plain {
        /// Graphs done so far.
        done: Arc<AtomicU64>,
        /// Stops the thread.
        stop: Sender<()>,
        /// The thread.
        thread: JoinHandle<()>,
    },
}

impl Progress {
    /// Starts reporting on a run of `total` graphs.
    pub fn start(total: u64, quiet: bool) -> Progress {
        if quiet {
            return Progress::Quiet;
        }
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{elapsed_precise} [{bar:40}] {pos}/{len} graphs ({per_sec}, eta {eta})",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.enable_steady_tick(Duration::from_millis(500));
            return Progress::Bar(bar);
        }
        let interval = std::env::var("GRAPH_IG_PROGRESS_SECONDS")
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s > 0.0)
            .map_or(PLAIN_INTERVAL, Duration::from_secs_f64);
        let done = Arc::new(AtomicU64::new(0));
        let (stop, stopped) = channel::<()>();
        let counter = Arc::clone(&done);
        let thread = std::thread::spawn(move || {
            let started = Instant::now();
            while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                noteln!(
                    "graph-ig: {}",
                    plain_line(counter.load(Ordering::Relaxed), total, started.elapsed())
                );
            }
        });
        Progress::Plain { done, stop, thread }
    }

    /// Counts `k` more graphs done.
    pub fn inc(&self, k: usize) {
        match self {
            Progress::Quiet => {}
            Progress::Bar(bar) => bar.inc(k as u64),
            Progress::Plain { done, .. } => {
                done.fetch_add(k as u64, Ordering::Relaxed);
            }
        }
    }

    /// Ends the report (clears the bar, stops the lines).
    pub fn finish(self) {
        match self {
            Progress::Quiet => {}
            Progress::Bar(bar) => bar.finish_and_clear(),
            Progress::Plain { stop, thread, .. } => {
                drop(stop);
                let _ = thread.join();
            }
        }
    }
}

/// `1200 of 4337 graphs (27.7 %), 45.6 graphs/s, 1m 09s left`.
pub fn plain_line(done: u64, total: u64, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    let rate = done as f64 / secs.max(1e-9);
    let left = if done == 0 {
        "time left unknown".to_string()
    } else {
        format!(
            "{} left",
            duration((total.saturating_sub(done)) as f64 / rate)
        )
    };
    format!(
        "{done} of {total} graphs ({:.1} %), {rate:.1} graphs/s, {left}",
        100.0 * done as f64 / total.max(1) as f64
    )
}

/// `12s`, `3m 09s`, `2h 05m`.
fn duration(secs: f64) -> String {
    let s = secs.round() as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lines() {
        assert_eq!(
            plain_line(0, 10, Duration::from_secs(10)),
            "0 of 10 graphs (0.0 %), 0.0 graphs/s, time left unknown"
        );
        assert_eq!(
            plain_line(100, 400, Duration::from_secs(10)),
            "100 of 400 graphs (25.0 %), 10.0 graphs/s, 30s left"
        );
        assert_eq!(duration(189.0), "3m 09s");
        assert_eq!(duration(7500.0), "2h 05m");
    }
}
