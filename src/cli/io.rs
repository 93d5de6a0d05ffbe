//! Writing to stdout and stderr when the reader may be gone.
//!
//! - stdout: a closed pipe (`graph-ig top ... | head -1`) ends the program at once,
//!   quietly, with status 0, as ripgrep does: the reader has what it wanted. Any
//!   other failure to write stdout is an error (status 1).
//! - stderr: notes, warnings and progress are dropped when stderr is closed, and the
//!   work goes on (an `explain` whose log reader went away still writes its file).
//!
//! Rust ignores SIGPIPE, so writes to a closed pipe fail with `BrokenPipe`
//! instead of killing the process; `print!` would then panic.

use std::io::Write;

/// Writes to stdout; see the module docs for a closed stdout.
pub fn out(args: std::fmt::Arguments<'_>) {
    let mut o = std::io::stdout().lock();
    if let Err(e) = o.write_fmt(args).and_then(|()| o.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        note(format_args!(
            "graph-ig: error: cannot write to stdout: {e}\n"
        ));
        std::process::exit(1);
    }
}

/// Writes to stderr, ignoring a closed or failing stderr.
pub fn note(args: std::fmt::Arguments<'_>) {
    let _ = std::io::stderr().lock().write_fmt(args);
}

/// `println!` to stdout through [`out`].
macro_rules! outln {
    () => {
        $crate::cli::io::out(format_args!("\n"))
    };
    ($($t:tt)*) => {
        $crate::cli::io::out(format_args!("{}\n", format_args!($($t)*)))
    };
}

/// `eprintln!` to stderr through [`note`].
macro_rules! noteln {
    ($($t:tt)*) => {
        $crate::cli::io::note(format_args!("{}\n", format_args!($($t)*)))
    };
}

pub(crate) use {noteln, outln};
