//! Instruction-set selection: detected once, overridable by `QKERNELS_X86_ISA`.
//!
//! The environment variable `QKERNELS_X86_ISA` may be `scalar`, `avx2` or
//! `avx512vnni` (case-insensitive). It is read once, the first time a kernel
//! asks for the ISA. A value naming a path this CPU cannot run, or an unknown
//! value, falls back to the best available path; [`isa_selection`] reports what
//! was asked for, what was chosen and why.

use std::fmt;
use std::sync::OnceLock;

/// Name of the environment variable that forces a kernel path.
pub const ISA_ENV_VAR: &str = "QKERNELS_X86_ISA";

/// A kernel path. Every kernel has one implementation per variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Isa {
    /// Portable scalar code: the numerical reference, runs everywhere.
    Scalar,
    /// AVX2 + FMA (exact 16-bit products, no `vpmaddubsw` saturation).
    Avx2,
    /// AVX-512 F/BW/VL with VNNI (`vpdpbusd`).
    Avx512Vnni,
}

impl Isa {
    /// All variants, slowest first.
    pub const ALL: [Isa; 3] = [Isa::Scalar, Isa::Avx2, Isa::Avx512Vnni];

    /// The lower-case name used by `QKERNELS_X86_ISA`.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::Avx512Vnni => "avx512vnni",
        }
    }

    /// Parses a `QKERNELS_X86_ISA` value (case-insensitive); `None` if unknown.
    pub fn from_name(name: &str) -> Option<Isa> {
        let lower = name.trim().to_ascii_lowercase();
        Isa::ALL.into_iter().find(|isa| isa.name() == lower)
    }

    /// Whether this CPU can run the path.
    pub fn is_available(self) -> bool {
        match self {
            Isa::Scalar => true,
            Isa::Avx2 => has_avx2(),
            Isa::Avx512Vnni => has_avx512vnni(),
        }
    }
}

impl fmt::Display for Isa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(target_arch = "x86_64")]
fn has_avx2() -> bool {
    is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
}

#[cfg(not(target_arch = "x86_64"))]
fn has_avx2() -> bool {
    false
}

#[cfg(target_arch = "x86_64")]
fn has_avx512vnni() -> bool {
    has_avx2()
        && is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512vl")
        && is_x86_feature_detected!("avx512vnni")
}

#[cfg(not(target_arch = "x86_64"))]
fn has_avx512vnni() -> bool {
    false
}

/// The paths this CPU can run, slowest first (always starts with `Scalar`).
pub fn available_isas() -> Vec<Isa> {
    Isa::ALL
        .into_iter()
        .filter(|isa| isa.is_available())
        .collect()
}

/// The fastest path this CPU can run.
pub fn best_available_isa() -> Isa {
    *available_isas().last().unwrap_or(&Isa::Scalar)
}

/// How the active ISA was chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsaSelection {
    /// The raw value of `QKERNELS_X86_ISA`, if set.
    pub requested: Option<String>,
    /// The path the plain (non `_with_isa`) entry points use.
    pub chosen: Isa,
    /// Why the request was not honoured (unknown name or unavailable path).
    pub fallback_reason: Option<String>,
}

fn select(requested: Option<String>) -> IsaSelection {
    let best = best_available_isa();
    let Some(raw) = requested else {
        return IsaSelection {
            requested: None,
            chosen: best,
            fallback_reason: None,
        };
    };
    let (chosen, fallback_reason) = match Isa::from_name(&raw) {
        Some(isa) if isa.is_available() => (isa, None),
        Some(isa) => (
            best,
            Some(format!("{ISA_ENV_VAR}={raw}: {isa} is not available on this CPU; using {best}")),
        ),
        None => (
            best,
            Some(format!(
                "{ISA_ENV_VAR}={raw}: unknown value (expected scalar, avx2 or avx512vnni); using {best}"
            )),
        ),
    };
    IsaSelection {
        requested: Some(raw),
        chosen,
        fallback_reason,
    }
}

static SELECTION: OnceLock<IsaSelection> = OnceLock::new();

/// How the active ISA was chosen (reads `QKERNELS_X86_ISA` on first use).
pub fn isa_selection() -> &'static IsaSelection {
    SELECTION.get_or_init(|| select(std::env::var(ISA_ENV_VAR).ok()))
}

/// The path used by the plain entry points: detected once, honouring `QKERNELS_X86_ISA`.
pub fn active_isa() -> Isa {
    isa_selection().chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for isa in Isa::ALL {
            assert_eq!(Isa::from_name(isa.name()), Some(isa));
            assert_eq!(Isa::from_name(&isa.name().to_uppercase()), Some(isa));
        }
        assert_eq!(Isa::from_name("neon"), None);
    }

    #[test]
    fn unknown_request_falls_back_and_says_so() {
        let s = select(Some("sse9".into()));
        assert_eq!(s.chosen, best_available_isa());
        assert!(s.fallback_reason.unwrap().contains("unknown"));
    }

    #[test]
    fn scalar_request_is_always_honoured() {
        let s = select(Some("scalar".into()));
        assert_eq!(s.chosen, Isa::Scalar);
        assert!(s.fallback_reason.is_none());
    }

    #[test]
    fn unavailable_request_falls_back() {
        for isa in Isa::ALL {
            let s = select(Some(isa.name().into()));
            if isa.is_available() {
                assert_eq!(s.chosen, isa);
            } else {
                assert_eq!(s.chosen, best_available_isa());
                assert!(s.fallback_reason.is_some());
            }
        }
    }

    #[test]
    fn available_starts_with_scalar() {
        assert_eq!(available_isas()[0], Isa::Scalar);
    }
}
