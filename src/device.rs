//! Where the work runs.

use crate::{Error, Result};

/// A compute device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device {
    /// The CPU reference path (feature `cpu-ref`), in f64, using every core.
    Cpu,
    /// A CUDA GPU by ordinal (feature `cuda`), in f32.
    Cuda(usize),
    /// Interpret mode (feature `interpret`): the CUDA kernels and the GPU host
    /// code run on the CPU. For testing the GPU path's logic; never for timings.
    Interpret,
}

impl Device {
    /// The best device this build and machine offer: the first CUDA GPU when
    /// there is one, otherwise the CPU, with a note saying why.
    pub fn auto() -> Result<(Device, Option<String>)> {
        let why = Self::why_no_gpu();
        match why {
            None => Ok((Device::Cuda(0), None)),
            Some(why) if cfg!(feature = "cpu-ref") => Ok((
                Device::Cpu,
                Some(format!("{why}; using the CPU reference path")),
            )),
            Some(why) => Err(Error::Device(format!(
                "{why}, and this build has no cpu-ref feature"
            ))),
        }
    }

    /// `None` when a CUDA GPU is usable, else the reason.
    fn why_no_gpu() -> Option<String> {
        #[cfg(feature = "cuda")]
        {
            if !crate::cuda::driver::driver_present() {
                return Some("no CUDA driver on this machine".into());
            }
            if crate::cuda::driver::device_count() == 0 {
                return Some("no CUDA GPU found".into());
            }
            None
        }
        #[cfg(not(feature = "cuda"))]
        {
            Some("this build has no CUDA backend (feature cuda)".into())
        }
    }

    /// Checks that this device honours `storage` (narrow storage is a GPU fused-kernel
    /// option; the CPU reference computes in f64).
    pub fn supports_storage(self, storage: crate::explain::Storage) -> Result<()> {
        if self == Device::Cpu && storage != crate::explain::Storage::F32 {
            return Err(Error::Device(format!(
                "storage {} is a GPU fused-kernel option; the CPU reference computes in f64 \
                 (use --device cuda or interpret, or storage f32)",
                storage.cli_name()
            )));
        }
        Ok(())
    }

    /// Checks that this build can run on the device (not that a GPU is present).
    pub fn check(self) -> Result<()> {
        match self {
            Device::Cpu if cfg!(feature = "cpu-ref") => Ok(()),
            Device::Cpu => Err(Error::Device(
                "the CPU path needs the cpu-ref feature (on by default)".into(),
            )),
            Device::Cuda(_) if cfg!(feature = "cuda") => Ok(()),
            Device::Cuda(n) => Err(Error::Device(format!(
                "cuda:{n}: this build has no CUDA backend (feature cuda)"
            ))),
            Device::Interpret if cfg!(feature = "interpret") => Ok(()),
            Device::Interpret => Err(Error::Device(
                "interpret mode needs the interpret feature (on by default)".into(),
            )),
        }
    }
}

impl Device {
    /// Checks the build ([`Device::check`]) and, for a GPU, opens it, so that a
    /// missing driver or a bad ordinal is reported before any work or output starts.
    pub fn open(self) -> Result<()> {
        self.check()?;
        #[cfg(feature = "cuda")]
        if let Device::Cuda(n) = self {
            crate::cuda::driver::CudaGpu::get(n)?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Device {
    type Err = Error;
    /// Parses `cpu`, `interpret`, `cuda` (= `cuda:0`) or `cuda:N`. `auto` is [`Device::auto`].
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "cpu" => Ok(Device::Cpu),
            "interpret" => Ok(Device::Interpret),
            "cuda" => Ok(Device::Cuda(0)),
            _ => s
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(Device::Cuda)
                .ok_or_else(|| {
                    Error::Config(format!(
                        "unknown device {s:?}; use auto, cpu, cuda, cuda:N or interpret"
                    ))
                }),
        }
    }
}

/// Parses a device list: one device (as `Device` parses it), `cuda:all` (every GPU of
/// this machine), `cuda:0,2` (those GPUs) or `interpret:K` (K emulated devices, so
/// that the splitting of work across devices can be tested without a GPU). A sweep
/// splits each chunk across the devices of the list, one host thread each.
pub fn parse_devices(s: &str) -> Result<Vec<Device>> {
    let bad = |why: String| {
        Error::Config(format!(
            "device list {s:?}: {why}; use cpu, cuda, cuda:N, cuda:all, cuda:0,2, interpret or \
             interpret:K"
        ))
    };
    if let Some(k) = s.strip_prefix("interpret:") {
        let k: usize = k
            .parse()
            .map_err(|_| bad(format!("{k:?} is not a number of devices")))?;
        if !(1..=64).contains(&k) {
            return Err(bad(format!("{k} emulated devices (1 to 64)")));
        }
        return Ok(vec![Device::Interpret; k]);
    }
    if s == "cuda:all" {
        #[cfg(feature = "cuda")]
        {
            if crate::cuda::driver::driver_present() {
                let n = crate::cuda::driver::device_count();
                if n > 0 {
                    return Ok((0..n).map(Device::Cuda).collect());
                }
            }
        }
        return Err(Error::Device(format!(
            "cuda:all: {}",
            Device::why_no_gpu().unwrap_or_else(|| "no CUDA GPU found".into())
        )));
    }
    if let Some(list) = s.strip_prefix("cuda:").filter(|l| l.contains(',')) {
        let mut out = Vec::new();
        for n in list.split(',') {
            let n: usize = n
                .trim()
                .parse()
                .map_err(|_| bad(format!("{n:?} is not a GPU ordinal")))?;
            if out.contains(&Device::Cuda(n)) {
                return Err(bad(format!("cuda:{n} is listed twice")));
            }
            out.push(Device::Cuda(n));
        }
        return Ok(out);
    }
    Ok(vec![s.parse()?])
}

/// A device list as [`parse_devices`] reads it: `cuda:0,2`, `interpret:2`, or one device.
pub fn devices_name(devices: &[Device]) -> String {
    match devices {
        [d] => d.to_string(),
        ds if ds.iter().all(|d| *d == Device::Interpret) => format!("interpret:{}", ds.len()),
        ds => format!(
            "cuda:{}",
            ds.iter()
                .map(|d| match d {
                    Device::Cuda(n) => n.to_string(),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join(",")
        ),
    }
}

impl std::fmt::Display for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Device::Cpu => f.write_str("cpu"),
            Device::Cuda(n) => write!(f, "cuda:{n}"),
            Device::Interpret => f.write_str("interpret"),
        }
    }
}
