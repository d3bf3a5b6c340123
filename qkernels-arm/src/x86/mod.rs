//! x86-64 kernels for the qnnpack engine: AVX-512 with VNNI, and AVX2 for CPUs without
//! AVX-512, chosen at run time. Each body is a `#[target_feature]` `unsafe fn` behind a safe
//! wrapper that checks every bound the body relies on; results equal the portable reference
//! bit for bit.
//!
//! The GEMM multiplies the raw `u8` activations by the raw `qint8` weights and restores
//! QNNPACK's zero-point-subtracted products with exact wrapping corrections:
//! `sum((a - az)(w - zw)) = sum(a w) - zw sum(a) - az sum(w) + K az zw`. Every product and
//! every partial sum the instructions form (`vpdpbusd`: four `u8 * i8`; `vpmaddwd`: two
//! `i16 * i16`) is exact in 32 bits, and the corrections are ring identities modulo `2^32`, so
//! the accumulators equal the reference's wrapping `i32` sums.

pub(crate) mod dwconv;
mod dwconv_avx512;
pub(crate) mod dwconv_planes;
pub(crate) mod gemm;
mod gemm_avx2;
mod gemm_avx512;
pub(crate) mod layout;
mod plan;
pub(crate) mod quantize;
mod requant;

use crate::Path;

/// The instruction sets of the x86 paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Isa {
    /// AVX2: `vpmaddwd` on 16-bit operands, 8 lanes.
    Avx2,
    /// AVX-512 F/BW/VL with VNNI: `vpdpbusd` and `vpdpwssd`, 16 lanes, masked stores.
    Avx512Vnni,
}

impl Isa {
    /// The instruction set a path runs on, if it is an x86 one.
    pub(crate) fn of(path: Path) -> Option<Isa> {
        match path {
            Path::Avx2 => Some(Isa::Avx2),
            Path::Avx512Vnni => Some(Isa::Avx512Vnni),
            _ => None,
        }
    }

    /// Whether this CPU runs it.
    pub(crate) fn detected(self) -> bool {
        match self {
            Isa::Avx2 => std::arch::is_x86_feature_detected!("avx2"),
            Isa::Avx512Vnni => {
                std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512bw")
                    && std::arch::is_x86_feature_detected!("avx512vl")
                    && std::arch::is_x86_feature_detected!("avx512vnni")
            }
        }
    }
}
