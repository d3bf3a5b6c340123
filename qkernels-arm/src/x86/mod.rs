//! x86-64 kernels for the qnnpack engine (AVX-512 with VNNI), chosen at run time. Each body is
//! a `#[target_feature]` `unsafe fn` behind a safe wrapper that checks every bound the body
//! relies on; results equal the portable reference bit for bit.
//!
//! The GEMM uses `vpdpbusd` on the raw `u8` activations and raw `qint8` weights, and restores
//! QNNPACK's zero-point-subtracted products with exact wrapping corrections:
//! `sum((a - az)(w - zw)) = sum(a w) - zw sum(a) - az sum(w) + K az zw`. Every product
//! `u8 * i8` and every sum of four of them is exact in 32 bits, and the corrections are ring
//! identities modulo `2^32`, so the accumulators equal the reference's wrapping `i32` sums.

pub(crate) mod dwconv;
pub(crate) mod gemm;
mod gemm_kernel;
pub(crate) mod layout;

/// Whether this CPU has what the `avx512-vnni` path uses.
pub(crate) fn avx512_vnni_detected() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512bw")
        && std::arch::is_x86_feature_detected!("avx512vl")
        && std::arch::is_x86_feature_detected!("avx512vnni")
}
