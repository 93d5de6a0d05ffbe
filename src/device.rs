//! Where the work runs.

use crate::{Error, Result};

/// A compute device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device {
    /// The CPU reference path (feature `cpu-ref`), using every core.
    Cpu,
    /// A CUDA GPU by ordinal (feature `cuda`).
    Cuda(usize),
}

impl Device {
    /// The best device this build and machine offer, and a note when it had to fall back.
    ///
    /// The CUDA backend has not landed yet, so this is the CPU with a note saying so.
    pub fn auto() -> Result<(Device, Option<String>)> {
        if cfg!(feature = "cpu-ref") {
            Ok((
                Device::Cpu,
                Some("no CUDA backend in this build yet; using the CPU reference path".into()),
            ))
        } else {
            Err(Error::Device(
                "this build has neither a CUDA backend nor the cpu-ref feature".into(),
            ))
        }
    }

    /// Checks that this build can run on the device.
    pub fn check(self) -> Result<()> {
        match self {
            Device::Cpu if cfg!(feature = "cpu-ref") => Ok(()),
            Device::Cpu => Err(Error::Device(
                "the CPU path needs the cpu-ref feature (on by default)".into(),
            )),
            Device::Cuda(n) => Err(Error::Device(format!(
                "cuda:{n}: the CUDA backend is not implemented yet in this version of graph-ig; use --device cpu"
            ))),
        }
    }
}

impl std::str::FromStr for Device {
    type Err = Error;
    /// Parses `cpu`, `cuda` (= `cuda:0`) or `cuda:N`. `auto` is handled by [`Device::auto`].
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "cpu" => Ok(Device::Cpu),
            "cuda" => Ok(Device::Cuda(0)),
            _ => s
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(Device::Cuda)
                .ok_or_else(|| {
                    Error::Config(format!(
                        "unknown device {s:?}; use auto, cpu, cuda or cuda:N"
                    ))
                }),
        }
    }
}

impl std::fmt::Display for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Device::Cpu => f.write_str("cpu"),
            Device::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}
