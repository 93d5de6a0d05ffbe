//! SIGINT and SIGTERM during `graph-ig explain`.
//!
//! The first signal asks the sweep to stop after the chunk in flight (SLURM sends
//! SIGTERM some time before SIGKILL): the finished chunks stay in `OUT.partial`, the
//! sweep ends with [`graph_ig::Error::Interrupted`] and the program with status
//! 128 + the signal's number (130 for SIGINT, 143 for SIGTERM). A second signal stops
//! at once, losing only the chunk in flight.

use super::io::noteln;
use graph_ig::{Error, Result};
use signal_hook::consts::{SIGINT, SIGTERM};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;

/// The signal that stopped the run, if one did (0 = none).
static RECEIVED: AtomicI32 = AtomicI32::new(0);

/// The exit status for an interrupted run: 128 + the signal's number.
pub fn exit_status() -> u8 {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => 130,
        s => (128 + s).min(255) as u8,
    }
}

fn name(signal: i32) -> &'static str {
    match signal {
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}

/// Handles SIGINT and SIGTERM from now on; returns the flag the sweep stops on.
/// `partial` is the partial-results folder, named in the messages.
pub fn install(partial: PathBuf) -> Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
        .map_err(|e| Error::Device(format!("cannot handle SIGINT and SIGTERM: {e}")))?;
    let flag = Arc::clone(&stop);
    std::thread::spawn(move || {
        for signal in signals.forever() {
            if RECEIVED.swap(signal, Ordering::SeqCst) == 0 {
                flag.store(true, Ordering::SeqCst);
                noteln!(
                    "graph-ig: {}: finishing the chunk in flight, then stopping (send it again to stop at once)",
                    name(signal)
                );
                continue;
            }
            noteln!(
                "graph-ig: interrupted again ({}): stopped at once; the chunk in flight is lost, \
                 the finished chunks are kept in {}; rerun the same command to resume",
                name(signal),
                partial.display()
            );
            std::process::exit(128 + signal);
        }
    });
    Ok(stop)
}
