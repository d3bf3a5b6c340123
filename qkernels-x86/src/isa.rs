//! Run-time choice of the instruction set used by the fast paths.
//!
//! The CPU is probed once. The environment variable `QKERNELS_X86_ISA`
//! (`scalar`, `avx2` or `avx512`) caps the choice, so that tests and CI can run
//! every path this CPU has; a request for a path the CPU lacks falls back to
//! the best available one below it.

use std::sync::OnceLock;

/// An instruction-set level with its own kernel bodies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Isa {
    /// Portable Rust; defines the numerics the other paths must equal.
    Scalar,
    /// AVX2 + FMA (256-bit).
    Avx2,
    /// AVX-512 F + BW + VL (512-bit, masked tails).
    Avx512,
}

/// Environment variable that caps the instruction set used.
pub const ISA_ENV_VAR: &str = "QKERNELS_X86_ISA";

impl Isa {
    /// Every level, lowest first.
    pub const ALL: [Isa; 3] = [Isa::Scalar, Isa::Avx2, Isa::Avx512];

    /// Whether this CPU can run kernels of this level.
    pub fn is_available(self) -> bool {
        match self {
            Isa::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => {
                Isa::Avx2.is_available()
                    && std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512bw")
                    && std::arch::is_x86_feature_detected!("avx512vl")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The level used by the public kernels: the best available one, capped
    /// by [`ISA_ENV_VAR`] when set. Probed once per process.
    pub fn detected() -> Isa {
        static CHOICE: OnceLock<Isa> = OnceLock::new();
        *CHOICE.get_or_init(|| {
            let cap = std::env::var(ISA_ENV_VAR)
                .ok()
                .and_then(|v| Isa::parse(&v))
                .unwrap_or(Isa::Avx512);
            Isa::ALL
                .into_iter()
                .rev()
                .find(|isa| *isa <= cap && isa.is_available())
                .unwrap_or(Isa::Scalar)
        })
    }

    /// Parses `scalar`, `avx2` or `avx512` (case-insensitive).
    pub fn parse(name: &str) -> Option<Isa> {
        match name.trim().to_ascii_lowercase().as_str() {
            "scalar" => Some(Isa::Scalar),
            "avx2" => Some(Isa::Avx2),
            "avx512" => Some(Isa::Avx512),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detected_is_available_and_parse_roundtrips() {
        assert!(Isa::detected().is_available());
        for isa in Isa::ALL {
            let name = format!("{isa:?}");
            assert_eq!(Isa::parse(&name), Some(isa));
        }
        assert_eq!(Isa::parse("sse"), None);
    }
}
