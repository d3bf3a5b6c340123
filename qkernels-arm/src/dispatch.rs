//! Kernel paths and their selection: detected once, overridable by a documented variable.

use std::fmt;
use std::sync::OnceLock;

use crate::KernelError;

/// The environment variable that forces a path: `portable`, `neon`, `neon-dot`, `avx2` or
/// `avx512-vnni`.
///
/// A forced path that the CPU cannot run is ignored (the detected path is used and
/// [`Kernels::active`] reports which one runs).
pub const PATH_ENV: &str = "QKERNELS_ARM_PATH";

/// One implementation of the kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Path {
    /// Portable Rust: the reference that defines the numerics; runs on every target.
    Portable,
    /// AArch64 NEON (`std::arch::aarch64`), zero points subtracted in 16 bits.
    Neon,
    /// AArch64 NEON with the `udot` dot-product instructions (`dotprod` feature).
    NeonDot,
    /// x86-64 with AVX2: `vpmaddwd` GEMM and depthwise.
    Avx2,
    /// x86-64 with AVX-512 (F, BW, VL) and VNNI: `vpdpbusd` GEMM, `vpdpwssd` depthwise.
    Avx512Vnni,
}

impl Path {
    /// Every path, in order of preference (best last).
    pub const ALL: [Path; 5] = [
        Path::Portable,
        Path::Neon,
        Path::NeonDot,
        Path::Avx2,
        Path::Avx512Vnni,
    ];

    /// Whether this CPU (and build target) can run the path.
    pub fn is_available(self) -> bool {
        match self {
            Path::Portable => true,
            #[cfg(target_arch = "aarch64")]
            Path::Neon => std::arch::is_aarch64_feature_detected!("neon"),
            #[cfg(target_arch = "aarch64")]
            Path::NeonDot => {
                std::arch::is_aarch64_feature_detected!("neon")
                    && std::arch::is_aarch64_feature_detected!("dotprod")
            }
            #[cfg(not(target_arch = "aarch64"))]
            Path::Neon | Path::NeonDot => false,
            #[cfg(target_arch = "x86_64")]
            Path::Avx2 => crate::x86::Isa::Avx2.detected(),
            #[cfg(target_arch = "x86_64")]
            Path::Avx512Vnni => crate::x86::Isa::Avx512Vnni.detected(),
            #[cfg(not(target_arch = "x86_64"))]
            Path::Avx2 | Path::Avx512Vnni => false,
        }
    }

    /// The best path this CPU can run.
    pub fn detect() -> Path {
        Path::ALL
            .into_iter()
            .rev()
            .find(|p| p.is_available())
            .unwrap_or(Path::Portable)
    }

    /// The path's name as [`PATH_ENV`] spells it.
    pub fn name(self) -> &'static str {
        match self {
            Path::Portable => "portable",
            Path::Neon => "neon",
            Path::NeonDot => "neon-dot",
            Path::Avx2 => "avx2",
            Path::Avx512Vnni => "avx512-vnni",
        }
    }

    /// Parses a name as [`PATH_ENV`] spells it.
    pub fn from_name(name: &str) -> Option<Path> {
        Path::ALL.into_iter().find(|p| p.name() == name.trim())
    }

    /// The weight packing this path's GEMM micro-kernel reads.
    pub(crate) fn packing(self) -> Packing {
        match self {
            Path::Portable | Path::Neon => Packing::K1,
            Path::NeonDot => Packing::K4,
            Path::Avx2 | Path::Avx512Vnni => Packing::X16,
        }
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Layout of packed GEMM weights inside a panel of output channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Packing {
    /// One reduction index at a time: 8 bytes (one per channel) per index.
    K1,
    /// Four reduction indices at a time: 4 bytes per channel, 32 bytes per group.
    K4,
    /// 16-channel panels of raw `qint8` weights, four reduction indices at a time (64 bytes
    /// per group), each step padded to a multiple of 4 with zeros.
    X16,
}

impl Packing {
    /// Channels per packed panel.
    pub(crate) fn nr(self) -> usize {
        match self {
            Packing::K1 | Packing::K4 => 8,
            Packing::X16 => 16,
        }
    }

    /// The reduction length per step once padded.
    pub(crate) fn kc_pad(self, kc: usize) -> usize {
        match self {
            Packing::K1 | Packing::K4 => kc.div_ceil(8) * 8,
            Packing::X16 => kc.div_ceil(4) * 4,
        }
    }
}

/// A set of kernels bound to one [`Path`]. Every operator is a method; results are identical
/// on every path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kernels {
    path: Path,
}

impl Kernels {
    /// Kernels for `path`; errors if this CPU cannot run it.
    pub fn new(path: Path) -> Result<Kernels, KernelError> {
        if path.is_available() {
            Ok(Kernels { path })
        } else {
            Err(KernelError::PathUnavailable { path })
        }
    }

    /// The kernels chosen once for this process: [`PATH_ENV`] if set and runnable, else the
    /// best detected path.
    pub fn active() -> Kernels {
        static ACTIVE: OnceLock<Kernels> = OnceLock::new();
        *ACTIVE.get_or_init(|| {
            let forced = std::env::var(PATH_ENV)
                .ok()
                .and_then(|name| Path::from_name(&name))
                .filter(|p| p.is_available());
            Kernels {
                path: forced.unwrap_or_else(Path::detect),
            }
        })
    }

    /// Kernels for every path this CPU can run (portable first).
    pub fn available() -> Vec<Kernels> {
        Path::ALL
            .into_iter()
            .filter(|p| p.is_available())
            .map(|path| Kernels { path })
            .collect()
    }

    /// The path these kernels run.
    pub fn path(&self) -> Path {
        self.path
    }
}
