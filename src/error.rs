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

    /// A sweep's partial results cannot be reused.
    #[error("{path}: {message}")]
    Resume {
        /// The partial-results folder or file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
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
