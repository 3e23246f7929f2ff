//! The four clang-built objects (embedded at build time) and loading them:
//! maps are created, or found pinned under the pin directory, and every
//! program goes through the kernel verifier here.

use std::path::Path;

use anyhow::{bail, Context, Result};
use aya::programs::SchedClassifier;
use aya::{Ebpf, EbpfLoader};

/// (object file, program name) per attach point.
pub const FROM_CONTAINER: (&[u8], &str) = (
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/from_container.o")),
    "lby_from_container",
);
pub const FROM_OVERLAY: (&[u8], &str) = (
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/from_overlay.o")),
    "lby_from_overlay",
);
pub const TO_CONTAINER: (&[u8], &str) = (
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/to_container.o")),
    "lby_to_container",
);
pub const TO_OVERLAY: (&[u8], &str) = (
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/to_overlay.o")),
    "lby_to_overlay",
);

/// One loaded object with its single program.
pub struct Loaded {
    pub ebpf: Ebpf,
    pub name: &'static str,
}

impl Loaded {
    pub fn prog(&mut self) -> &mut SchedClassifier {
        let name = self.name;
        self.ebpf
            .program_mut(name)
            .and_then(|p| p.try_into().ok())
            .unwrap_or_else(|| panic!("{name} is built into this crate"))
    }
}

pub struct Programs {
    pub from_container: Loaded,
    pub to_container: Loaded,
    pub from_overlay: Loaded,
    pub to_overlay: Loaded,
}

/// bpffs's magic number (statfs f_type).
const BPF_FS_MAGIC: i64 = 0xcafe4a11;

/// The pin directory must be on a bpffs, or pinning fails obscurely.
pub fn check_bpffs(dir: &Path) -> Result<()> {
    let probe = if dir.exists() {
        dir
    } else {
        dir.parent().unwrap_or(dir)
    };
    let c = std::ffi::CString::new(probe.as_os_str().as_encoded_bytes())?;
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid C string and out-pointer.
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return Err(std::io::Error::last_os_error()).with_context(|| format!("statfs {}", probe.display()));
    }
    if st.f_type as i64 != BPF_FS_MAGIC {
        bail!(
            "pin directory {} is not on a bpf filesystem (mount one: mount -t bpf bpf {})",
            dir.display(),
            probe.display()
        );
    }
    Ok(())
}

fn load_one(pin_dir: &Path, (bytes, name): (&'static [u8], &'static str)) -> Result<Loaded> {
    let mut ebpf = EbpfLoader::new()
        .default_map_pin_directory(pin_dir)
        .load(bytes)
        .with_context(|| format!("loading the object of {name} (maps under {})", pin_dir.display()))?;
    let prog: &mut SchedClassifier = ebpf
        .program_mut(name)
        .with_context(|| format!("{name} missing from its object"))?
        .try_into()
        .with_context(|| format!("{name} is not a tc program"))?;
    prog.load()
        .with_context(|| format!("the verifier rejected {name}"))?;
    Ok(Loaded { ebpf, name })
}

pub fn load_all(pin_dir: &Path) -> Result<Programs> {
    check_bpffs(pin_dir)?;
    std::fs::create_dir_all(pin_dir.join("links"))
        .with_context(|| format!("creating {}", pin_dir.display()))?;
    Ok(Programs {
        from_container: load_one(pin_dir, FROM_CONTAINER)?,
        to_container: load_one(pin_dir, TO_CONTAINER)?,
        from_overlay: load_one(pin_dir, FROM_OVERLAY)?,
        to_overlay: load_one(pin_dir, TO_OVERLAY)?,
    })
}
