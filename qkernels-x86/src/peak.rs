//! The CPU's int8 peak: a register-only `vpdpbusd` loop, the ceiling the GEMM is measured against
//! (`cargo xtask bench --peak`).

use std::time::Instant;

/// Operations per `vpdpbusd` on 512-bit registers: 64 u8 x s8 products, each a multiply and an add.
const OPS_PER_VPDPBUSD: f64 = 128.0;
/// Independent accumulators, enough to hide the instruction's latency.
const CHAINS: usize = 12;
/// Iterations of the unrolled block per timing batch.
const BATCH: u64 = 1 << 16;

/// Billions of int8 operations per second one thread reaches in a loop of independent
/// `vpdpbusd` instructions on registers, measured for about `seconds`; `None` when the CPU has no
/// AVX-512 VNNI.
pub fn vnni_peak_gops(seconds: f64) -> Option<f64> {
    if !crate::isa::Isa::Avx512Vnni.is_available() {
        return None;
    }
    let start = Instant::now();
    let mut iterations = 0u64;
    let mut sink = 0i32;
    while start.elapsed().as_secs_f64() < seconds {
        // SAFETY: AVX-512 VNNI (with F, BW, VL) was checked above.
        sink ^= unsafe { vpdpbusd_loop(BATCH) };
        iterations += BATCH;
    }
    std::hint::black_box(sink);
    let ops = iterations as f64 * CHAINS as f64 * OPS_PER_VPDPBUSD;
    Some(ops / start.elapsed().as_secs_f64() / 1e9)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn vpdpbusd_loop(iterations: u64) -> i32 {
    use std::arch::x86_64::*;
    // Opaque operands: with constants the compiler folds the whole loop away.
    let a = _mm512_set1_epi8(std::hint::black_box(3));
    let b = _mm512_set1_epi8(std::hint::black_box(-2));
    let mut acc = [_mm512_setzero_si512(); CHAINS];
    for _ in 0..iterations {
        for r in acc.iter_mut() {
            *r = _mm512_dpbusd_epi32(*r, a, b);
        }
    }
    let mut total = _mm512_setzero_si512();
    for r in acc {
        total = _mm512_add_epi32(total, r);
    }
    _mm512_reduce_add_epi32(total)
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn vpdpbusd_loop(_iterations: u64) -> i32 {
    0
}

#[cfg(test)]
mod tests {
    #[test]
    fn peak_is_positive_or_reported_missing() {
        match super::vnni_peak_gops(0.01) {
            Some(g) => assert!(g > 0.0),
            None => eprintln!("skipped: this CPU has no AVX-512 VNNI"),
        }
    }
}
