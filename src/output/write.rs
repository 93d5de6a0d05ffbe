//! Writing output files safely.
//!
//! - [`safetensors_bytes`]: the same tensors and metadata always give the same bytes.
//!   The header is written here, not by `safetensors::serialize` (which takes the
//!   metadata as a `HashMap` and so writes its keys in a different order each run):
//!   metadata keys sorted, tensors in safetensors' own data order (descending dtype
//!   alignment, then name), the header padded with spaces to a multiple of 8 bytes.
//! - [`write_atomic`]: a file appears complete or not at all. The bytes go to a
//!   temporary file beside the target named `NAME.PID-K.tmp` (unique per process and
//!   call), are synced, and the file is renamed over the target. On any failure the
//!   temporary file is removed at once; a full disk is [`Error::NoSpace`] with the size
//!   the file needs and the space free.
//! - [`prepare_output`]: creates an output's folder and refuses, as
//!   [`Error::Unwritable`], paths on read-only or virtual filesystems (`/proc`, `/sys`).

use super::Tensor;
use crate::{Error, Result};
use safetensors::Dtype;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The safetensors bytes of `tensors` and `metadata`; `path` names the file in errors.
/// Deterministic: see the module docs.
pub fn safetensors_bytes<'a>(
    path: &Path,
    tensors: &[(String, Tensor)],
    metadata: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> Result<Vec<u8>> {
    let entries: Vec<(&str, Dtype, &[usize])> = tensors
        .iter()
        .map(|(n, t)| (n.as_str(), t.dtype, t.shape.as_slice()))
        .collect();
    let layout = Layout::new(path, &entries, metadata)?;
    for (k, (name, t)) in tensors.iter().enumerate() {
        if t.data.len() != layout.sizes[k] {
            return Err(Error::Safetensors {
                path: path.to_path_buf(),
                message: format!(
                    "tensor {name}: {} bytes of data for shape {:?} of {:?}",
                    t.data.len(),
                    t.shape,
                    t.dtype
                ),
            });
        }
    }
    let mut bytes = Vec::with_capacity(layout.file_size() as usize);
    bytes.extend_from_slice(&layout.prefix);
    for &k in &layout.order {
        bytes.extend_from_slice(&tensors[k].1.data);
    }
    Ok(bytes)
}

/// Where each tensor of a safetensors file goes: the header (with its length prefix)
/// and the order of the tensors' data. [`safetensors_bytes`] and the streaming writers
/// ([`crate::output::assemble`]) share it, so that both write the same bytes.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The 8-byte header length and the header itself, padded to a multiple of 8.
    pub prefix: Vec<u8>,
    /// Indices into the entries, in the order their data follows the header.
    pub order: Vec<usize>,
    /// Bytes of data of each entry, by entry index.
    pub sizes: Vec<usize>,
}

impl Layout {
    /// The layout of tensors `entries` (name, dtype, shape) with `metadata`; `path`
    /// names the file in errors. Metadata keys are sorted; tensors follow safetensors'
    /// data order (descending dtype alignment, then name).
    pub fn new<'a>(
        path: &Path,
        entries: &[(&str, Dtype, &[usize])],
        metadata: impl IntoIterator<Item = (&'a String, &'a String)>,
    ) -> Result<Layout> {
        let bad = |message: String| Error::Safetensors {
            path: path.to_path_buf(),
            message,
        };
        let mut order: Vec<usize> = (0..entries.len()).collect();
        order.sort_by(|&l, &r| {
            let (ln, lt, _) = entries[l];
            let (rn, rt, _) = entries[r];
            rt.cmp(&lt).then(ln.cmp(rn))
        });
        if let Some(w) = order
            .windows(2)
            .find(|w| entries[w[0]].0 == entries[w[1]].0)
        {
            return Err(bad(format!("tensor {} is given twice", entries[w[0]].0)));
        }
        macro_rules! json {
            ($v:expr) => {
                serde_json::to_string(&$v).map_err(|e| bad(e.to_string()))?
            };
        }
        let sizes = entries
            .iter()
            .map(|(name, dtype, shape)| {
                shape
                    .iter()
                    .try_fold(dtype.size(), |n, &d| n.checked_mul(d))
                    .ok_or_else(|| bad(format!("tensor {name}: shape {shape:?} is too large")))
            })
            .collect::<Result<Vec<usize>>>()?;
        let metadata: BTreeMap<&String, &String> = metadata.into_iter().collect();
        let mut header = String::from("{");
        if !metadata.is_empty() {
            header.push_str("\"__metadata__\":");
            header.push_str(&json!(metadata));
        }
        let mut offset = 0usize;
        for &k in &order {
            let (name, dtype, shape) = entries[k];
            if header.len() > 1 {
                header.push(',');
            }
            header.push_str(&format!(
                "{}:{{\"dtype\":{},\"shape\":{},\"data_offsets\":[{offset},{}]}}",
                json!(name),
                json!(dtype),
                json!(shape),
                offset + sizes[k]
            ));
            offset += sizes[k];
        }
        header.push('}');
        while header.len() % 8 != 0 {
            header.push(' ');
        }
        let mut prefix = Vec::with_capacity(8 + header.len());
        prefix.extend_from_slice(&(header.len() as u64).to_le_bytes());
        prefix.extend_from_slice(header.as_bytes());
        Ok(Layout {
            prefix,
            order,
            sizes,
        })
    }

    /// Bytes of the whole file.
    pub fn file_size(&self) -> u64 {
        self.prefix.len() as u64 + self.sizes.iter().map(|&s| s as u64).sum::<u64>()
    }
}

/// Writes `tensors` and `metadata` to `path` atomically ([`write_atomic`]), with the
/// deterministic bytes of [`safetensors_bytes`].
pub fn write_safetensors<'a>(
    path: &Path,
    tensors: &[(String, Tensor)],
    metadata: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> Result<()> {
    let bytes = safetensors_bytes(path, tensors, metadata)?;
    write_atomic(path, bytes.len() as u64, |f| f.write_all(&bytes))
}

/// A temporary path beside `path`, unique in this process and across processes:
/// `NAME.PID-K.tmp`.
pub fn temp_path(path: &Path) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let k = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(format!(".{}-{k}.tmp", std::process::id()));
    path.with_file_name(name)
}

/// Whether `name` is a temporary file that [`temp_path`] made for `target_name`.
pub fn is_temp_of(name: &str, target_name: &str) -> bool {
    let Some(mid) = name
        .strip_prefix(target_name)
        .and_then(|r| r.strip_prefix('.'))
        .and_then(|r| r.strip_suffix(".tmp"))
    else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    mid.split_once('-')
        .is_some_and(|(pid, k)| digits(pid) && digits(k))
}

/// Writes a file of `size` bytes atomically: `write` fills a temporary file beside
/// `path` ([`temp_path`]), which is synced and renamed over `path`. On any failure the
/// temporary file is removed before this returns; a full disk gives [`Error::NoSpace`].
pub fn write_atomic(
    path: &Path,
    size: u64,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    let tmp = temp_path(path);
    let written = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        write(&mut f)?;
        f.sync_all()
    })();
    let done = written.and_then(|()| std::fs::rename(&tmp, path));
    done.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        write_error(path, e, size)
    })
}

/// The error for a failed write of `size` bytes to `path`: [`Error::NoSpace`] on a full
/// disk (or quota), [`Error::Unwritable`] on a read-only or virtual filesystem, else I/O.
pub fn write_error(path: &Path, e: std::io::Error, size: u64) -> Error {
    if is_no_space(&e) {
        return Error::NoSpace {
            path: path.to_path_buf(),
            needed: size,
            more: None,
            free: free_space(path),
        };
    }
    match unwritable_reason(path, &e) {
        Some(reason) => Error::Unwritable {
            path: path.to_path_buf(),
            reason,
        },
        None => Error::io(path, e),
    }
}

/// Whether `e` says the disk (or the quota) is full.
pub fn is_no_space(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    )
}

/// Creates the folder of the output file `path` (and its parents) and checks that
/// it is on a filesystem that can hold files.
pub fn prepare_output(path: &Path) -> Result<()> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if let Some(reason) = filesystem_refusal(parent) {
        return Err(Error::Unwritable {
            path: path.to_path_buf(),
            reason,
        });
    }
    std::fs::create_dir_all(parent).map_err(|e| match unwritable_reason(parent, &e) {
        Some(reason) => Error::Unwritable {
            path: path.to_path_buf(),
            reason,
        },
        None => Error::io(parent, e),
    })
}

/// Why writing under `path` failed with `e` because of its filesystem, if it did.
fn unwritable_reason(path: &Path, e: &std::io::Error) -> Option<String> {
    filesystem_refusal(path).or_else(|| {
        (e.kind() == std::io::ErrorKind::ReadOnlyFilesystem).then(|| {
            format!(
                "{} is on a read-only filesystem",
                existing_ancestor(path).display()
            )
        })
    })
}

/// The nearest existing folder at or above `path` (`.` for a relative path with none).
fn existing_ancestor(path: &Path) -> PathBuf {
    let mut p = path;
    loop {
        if p.exists() {
            return p.to_path_buf();
        }
        match p.parent() {
            Some(q) if !q.as_os_str().is_empty() => p = q,
            _ => return PathBuf::from("."),
        }
    }
}

/// Why files cannot be written under `path` at all, judged by the filesystem of its
/// nearest existing folder: virtual (proc, sysfs, ...) or mounted read-only.
pub fn filesystem_refusal(path: &Path) -> Option<String> {
    let at = existing_ancestor(path);
    let info = fs_info(&at)?;
    if let Some(kind) = info.virtual_kind {
        return Some(format!(
            "{} is on {kind}, a virtual filesystem of the kernel, not storage",
            at.display()
        ));
    }
    info.read_only
        .then(|| format!("{} is on a read-only filesystem", at.display()))
}

/// Bytes free for this user on the filesystem of `path` (or its nearest existing folder).
pub fn free_space(path: &Path) -> Option<u64> {
    fs_info(&existing_ancestor(path)).map(|i| i.free)
}

/// What `statvfs`/`statfs` say about a filesystem.
struct FsInfo {
    free: u64,
    read_only: bool,
    virtual_kind: Option<&'static str>,
}

#[cfg(unix)]
fn fs_info(path: &Path) -> Option<FsInfo> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: `c` is a NUL-terminated path; `st` is plain data that statvfs fills.
    let st = unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        (libc::statvfs(c.as_ptr(), &mut st) == 0).then_some(st)?
    };
    Some(FsInfo {
        free: (st.f_bavail as u64).saturating_mul(st.f_frsize as u64),
        read_only: st.f_flag & libc::ST_RDONLY != 0,
        virtual_kind: virtual_kind(&c),
    })
}

#[cfg(not(unix))]
fn fs_info(_path: &Path) -> Option<FsInfo> {
    None
}

/// The name of the kernel's virtual filesystem `path` is on, if it is one (Linux).
#[cfg(target_os = "linux")]
fn virtual_kind(path: &std::ffi::CStr) -> Option<&'static str> {
    // SAFETY: `path` is NUL-terminated; `st` is plain data that statfs fills.
    let st = unsafe {
        let mut st: libc::statfs = std::mem::zeroed();
        (libc::statfs(path.as_ptr(), &mut st) == 0).then_some(st)?
    };
    // f_type is a signed word whose width depends on the platform; the magic numbers are 32-bit.
    let magic = (st.f_type as u64 & 0xffff_ffff) as u32;
    Some(match magic {
        0x9fa0 => "proc",
        0x6265_6572 => "sysfs",
        0x6462_6720 => "debugfs",
        0x7472_6163 => "tracefs",
        0x0027_e0eb => "cgroup",
        0x6367_7270 => "cgroup2",
        0x1cd1 => "devpts",
        0x7363_6673 => "securityfs",
        0xcafe_4a11 => "bpf",
        0x6165_676c => "pstore",
        0xde5e_81e4 => "efivarfs",
        0x6265_6570 => "configfs",
        0x6573_5543 => "fusectl",
        _ => return None,
    })
}

#[cfg(all(unix, not(target_os = "linux")))]
fn virtual_kind(_path: &std::ffi::CStr) -> Option<&'static str> {
    None
}
