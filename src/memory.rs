//! Host memory checks: allocations whose size comes from the input are compared
//! with the memory available before they are made, so that a large or hostile
//! input gets a named error ([`Error::Memory`]) instead of an abort.
//!
//! Available memory is Linux's `MemAvailable` (`/proc/meminfo`), lowered to the
//! room left under the process's cgroup limit (v2 `memory.max`, v1
//! `memory.limit_in_bytes`) when there is one. Where it cannot be read, only sizes
//! that no machine could hold (above [`UNREADABLE_LIMIT`]) are refused. A program
//! embedding graph-ig (and the fuzz targets) may set a lower ceiling ([`set_ceiling`]).

use crate::{Error, Result};
use std::sync::atomic::{AtomicU64, Ordering};

/// The ceiling set by [`set_ceiling`] (`u64::MAX`: none).
static CEILING: AtomicU64 = AtomicU64::new(u64::MAX);

/// Caps the memory [`available`] reports, for the whole process (`None`: no cap).
pub fn set_ceiling(bytes: Option<u64>) {
    CEILING.store(bytes.unwrap_or(u64::MAX), Ordering::Relaxed);
}

/// The refusal threshold when the available memory cannot be read: 1 TiB.
pub const UNREADABLE_LIMIT: u64 = 1 << 40;

/// `a × b × ...` in bytes, saturating at `u64::MAX` (an impossible size, never a wrap).
pub fn product(factors: &[u64]) -> u64 {
    factors.iter().fold(1u64, |p, &f| p.saturating_mul(f))
}

/// A byte count for people: `512 B`, `3.4 MiB`, `1.2 GiB`, ... (`more than 16 EiB` when saturated).
pub fn human(bytes: u64) -> String {
    if bytes == u64::MAX {
        return "more than 16 EiB".into();
    }
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// Bytes of memory this process may still allocate, if the system says (never more
/// than the ceiling of [`set_ceiling`]).
pub fn available() -> Option<u64> {
    let ceiling = CEILING.load(Ordering::Relaxed);
    match system_available() {
        Some(a) => Some(a.min(ceiling)),
        None => (ceiling != u64::MAX).then_some(ceiling),
    }
}

fn system_available() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    let mut avail = kib.saturating_mul(1024);
    if let Some(room) = cgroup_room() {
        avail = avail.min(room);
    }
    Some(avail)
}

/// Room under the cgroup memory limit (limit − usage), if a limit is set.
fn cgroup_room() -> Option<u64> {
    let read = |p: &str| -> Option<u64> { std::fs::read_to_string(p).ok()?.trim().parse().ok() };
    let (limit, used) = match read("/sys/fs/cgroup/memory.max") {
        Some(l) => (l, read("/sys/fs/cgroup/memory.current")?),
        None => (
            read("/sys/fs/cgroup/memory/memory.limit_in_bytes")?,
            read("/sys/fs/cgroup/memory/memory.usage_in_bytes")?,
        ),
    };
    // v1 reports "no limit" as a huge number; v2 writes "max", which does not parse.
    (limit < 1 << 60).then(|| limit.saturating_sub(used))
}

/// Checks that `needed` bytes for `what` fit in the memory available; `hint`
/// says what would fit (a smaller setting), for the error.
pub fn check(
    what: impl FnOnce() -> String,
    needed: u64,
    hint: impl FnOnce() -> String,
) -> Result<()> {
    let (ok, available) = match available() {
        Some(a) => (needed <= a, a),
        None => (needed <= UNREADABLE_LIMIT, UNREADABLE_LIMIT),
    };
    if ok {
        return Ok(());
    }
    Err(Error::Memory {
        what: what(),
        needed,
        available,
        hint: hint(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes() {
        assert_eq!(human(0), "0 B");
        assert_eq!(human(1023), "1023 B");
        assert_eq!(human(1536), "1.5 KiB");
        assert_eq!(human(3 << 30), "3.0 GiB");
        assert_eq!(human(u64::MAX), "more than 16 EiB");
    }

    #[test]
    fn products_saturate() {
        assert_eq!(product(&[2, 3, 4]), 24);
        assert_eq!(product(&[u64::MAX, 2]), u64::MAX);
        assert_eq!(product(&[]), 1);
    }

    #[test]
    fn impossible_sizes_are_refused() {
        let e = check(|| "x".into(), u64::MAX, || "less".into()).unwrap_err();
        assert!(e.to_string().contains("more than 16 EiB"), "{e}");
        check(|| "x".into(), 1024, || "less".into()).unwrap();
    }
}
