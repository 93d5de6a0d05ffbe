//! The one error type of the crate.
//!
//! Every variant carries enough context (file and line, tensor key, graph and
//! edge) for a user to find the offending input without a debugger.

use std::path::PathBuf;

/// Everything that can go wrong in graph-ig.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be opened, read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },

    /// A line of a text input file could not be understood.
    #[error("{path}:{line}: {message}")]
    Parse {
        /// The file involved.
        path: PathBuf,
        /// The 1-based line number.
        line: usize,
        /// What is wrong with the line.
        message: String,
    },

    /// Two files of a dataset disagree (for example in their line counts).
    #[error("{path}: {message}")]
    Dataset {
        /// The file that disagrees with the others.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },

    /// A tensor of a PyG data file (`--data FILE.safetensors`) is missing or invalid.
    #[error("{path}: tensor {key}: {message}")]
    Data {
        /// The data file (or the origin given to [`crate::graph::pyg::from_bytes`]).
        path: PathBuf,
        /// The tensor's name in the file (`x`, `edge_index`, `batch`, ...).
        key: String,
        /// What is wrong.
        message: String,
    },

    /// A graph batch built from vectors is invalid.
    #[error("invalid graph batch: {0}")]
    Batch(String),

    /// A model file is invalid: bad keys, shapes, dtypes or values.
    #[error("model {path}: {message}")]
    Model {
        /// The model file (or `<memory>`).
        path: PathBuf,
        /// What is wrong.
        message: String,
    },

    /// An architecture card is invalid: bad JSON, an unknown op or option, a layer
    /// that does not fit the state dict.
    #[error("architecture card {path}: {message}")]
    Card {
        /// The card file, or the model file whose metadata holds it.
        path: PathBuf,
        /// What is wrong, naming the layer.
        message: String,
    },

    /// A safetensors file could not be parsed.
    #[error("{path}: not a valid safetensors file: {message}")]
    Safetensors {
        /// The file involved.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },

    /// The model and the data do not fit together (feature width, class count, labels).
    #[error("model and data do not fit: {0}")]
    Mismatch(String),

    /// An explanation setting is invalid (steps, rule, target, baseline, graph range).
    #[error("invalid setting: {0}")]
    Config(String),

    /// The requested device is not available in this build or on this machine.
    #[error("device unavailable: {0}")]
    Device(String),

    /// Sanitizer mode (interpret mode with `GRAPH_IG_SANITIZE`) found bugs in a kernel launch.
    #[error("sanitizer: {findings} finding(s) in kernel {kernel} (grid {grid}, block {block}):\n{report}")]
    Sanitizer {
        /// The kernel launched.
        kernel: String,
        /// Blocks of the launch.
        grid: u32,
        /// Threads per block.
        block: u32,
        /// Distinct findings (the report lists the first ones).
        findings: usize,
        /// One line per finding: the check, the kernel, block, thread, buffer and index.
        report: String,
    },

    /// A sweep's partial results cannot be reused.
    #[error("{path}: {message}")]
    Resume {
        /// The partial-results folder or file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },

    /// Another live process is writing the same output (it holds the lock of its
    /// partial-results folder).
    #[error("{} is being written by process {}; wait for it to finish or stop it (it holds the lock {})",
        out.display(), pid.map_or("(unknown)".to_string(), |p| p.to_string()), lock.display())]
    Busy {
        /// The output file.
        out: PathBuf,
        /// The process holding the lock, as it recorded itself.
        pid: Option<u32>,
        /// The lock file.
        lock: PathBuf,
    },

    /// A file could not be written for lack of space; the truncated file was removed.
    #[error("{}", no_space(path, *needed, *more, *free))]
    NoSpace {
        /// The file that could not be written.
        path: PathBuf,
        /// Bytes of that file (0 when not known in advance).
        needed: u64,
        /// Bytes the rest of the run will write after it, when known.
        more: Option<u64>,
        /// Free bytes on its filesystem, when known.
        free: Option<u64>,
    },

    /// An output path lies on a filesystem that cannot hold files (read-only or virtual).
    #[error("{}: cannot write there: {reason}; choose an output path on a writable disk", path.display())]
    Unwritable {
        /// The output path.
        path: PathBuf,
        /// Why (which filesystem, read-only or virtual).
        reason: String,
    },

    /// A run would need more memory than the machine has available.
    #[error("{what} needs {} of memory, but {} is available; {hint}",
        crate::memory::human(*needed), crate::memory::human(*available))]
    Memory {
        /// What needs it (with the sizes that make it up).
        what: String,
        /// Bytes needed (saturated at `u64::MAX`).
        needed: u64,
        /// Bytes available.
        available: u64,
        /// What would fit.
        hint: String,
    },

    /// A sweep stopped on a signal (SIGINT, SIGTERM) after its chunk in flight.
    #[error("{}", interrupted(*kept, *total, dir))]
    Interrupted {
        /// Graphs whose results are on disk.
        kept: usize,
        /// Graphs of the run.
        total: usize,
        /// The partial-results folder.
        dir: PathBuf,
    },

    /// A sweep failed after finishing some chunks, which are kept for a rerun.
    #[error("{source}\n{kept} of {total} graphs kept in {}; rerun the same command to resume", dir.display())]
    Incomplete {
        /// What went wrong.
        source: Box<Error>,
        /// Graphs whose results are on disk.
        kept: usize,
        /// Graphs of the run.
        total: usize,
        /// The partial-results folder.
        dir: PathBuf,
    },
}

/// The message of [`Error::NoSpace`].
fn no_space(path: &std::path::Path, needed: u64, more: Option<u64>, free: Option<u64>) -> String {
    use crate::memory::human;
    let mut m = format!("{}: no space left on the device", path.display());
    if needed > 0 {
        m += &format!(": the file needs {}", human(needed));
        if let Some(more) = more {
            m += &format!(" and the rest of the run about {} more", human(more));
        }
    }
    if let Some(free) = free {
        m += &format!("; {} are free there", human(free));
    }
    m
}

/// The message of [`Error::Interrupted`].
fn interrupted(kept: usize, total: usize, dir: &std::path::Path) -> String {
    if kept == 0 {
        format!("interrupted before any of the {total} graphs was finished; nothing was kept")
    } else {
        format!(
            "interrupted: {kept} of {total} graphs kept in {}; rerun the same command to resume",
            dir.display()
        )
    }
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn model(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Model {
            path: path.into(),
            message: message.into(),
        }
    }
}
