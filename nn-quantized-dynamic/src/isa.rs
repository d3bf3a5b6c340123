//! Which vector width the elementwise and float16 loops run at: the same safe loop bodies are
//! compiled for SSE2 (baseline), AVX2 and AVX-512F, and the widest this CPU runs is chosen once.
//! No path uses fused multiply-add and every loop fixes its operation order in the source, so
//! every width gives the same bits.

use std::sync::OnceLock;

/// A compiled width of the loops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Width {
    /// The target's baseline (SSE2 on x86-64).
    Baseline,
    /// 256-bit AVX2.
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// 512-bit AVX-512F.
    #[cfg(target_arch = "x86_64")]
    Avx512,
}

/// The widest width this CPU runs, detected once.
pub(crate) fn width() -> Width {
    static WIDTH: OnceLock<Width> = OnceLock::new();
    *WIDTH.get_or_init(|| available().into_iter().last().unwrap_or(Width::Baseline))
}

/// Every width this CPU runs, narrowest first (tests compare them all).
pub(crate) fn available() -> Vec<Width> {
    #[allow(unused_mut)] // only x86-64 adds widths
    let mut v = vec![Width::Baseline];
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            v.push(Width::Avx2);
        }
        if std::arch::is_x86_feature_detected!("avx512f") {
            v.push(Width::Avx512);
        }
    }
    v
}
