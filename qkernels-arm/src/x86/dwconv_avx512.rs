//! AVX-512 VNNI depthwise kernel: each kernel position loads 64 channel bytes of a pixel at
//! once and multiplies them with four one-hot weight vectors (`vpdpbusd`): vector `r` holds
//! the weight of channel `4 j + r` in byte `4 j + r` of lane `j` and zeros elsewhere, so lane
//! `j` of accumulator `r` sums exactly channel `4 j + r`'s products `a * w` (raw `u8` times
//! raw `qint8`, exact). Two pixels share each weight load. When a weight zero point is not 0,
//! one-hot vectors of ones also sum the activations, and
//! `sum((a - az)(w - zw)) = sum(a w) - zw sum(a) + (ks az zw - az sum(w))` restores the
//! reference's wrapping `i32` accumulator (the last term is folded into the start values).

use core::arch::x86_64::*;

use super::dwconv::{Depthwise, DwWeights};
use super::requant::requant16;

/// Runs every pixel (checks the bounds, then the AVX-512 bodies).
///
/// Panics if a buffer is too small for the sizes; the caller checked the CPU features, the
/// indirection and the output length.
pub(super) fn run(d: &Depthwise, out: &mut [u8]) {
    let DwWeights::OneHot {
        onehot,
        init64,
        scales64,
        zw64,
    } = d.weights
    else {
        panic!("the AVX-512 depthwise kernel takes one-hot weights");
    };
    let blocks = d.channels.div_ceil(64);
    assert!(onehot.len() >= blocks * d.ks * 256);
    assert!(init64.len() >= blocks * 64 && scales64.len() >= blocks * 64);
    assert!(zw64.is_none_or(|z| z.len() >= blocks * 64));
    assert!(d.pixels == 0 || d.indirection.max() + blocks * 64 <= d.input.len());
    assert!(super::Isa::Avx512Vnni.detected() && out.len() == d.pixels * d.channels);
    assert_eq!(d.indirection.len(), d.pixels * d.ks);
    let t = Tables {
        onehot,
        init64,
        scales64,
        zw64: zw64.unwrap_or(&[]),
    };
    for b in 0..blocks {
        let mut p = 0;
        while p < d.pixels {
            let px = (d.pixels - p).min(2);
            // SAFETY: asserted above: the CPU features, every read (`offset + 64 * blocks`
            // inside `input`, the tables covering every block), the output length; pixels
            // `p..p + px` and block `b` exist.
            unsafe {
                match (px, zw64.is_some()) {
                    (2, false) => pixels::<2, false>(d, &t, p, b, out),
                    (2, true) => pixels::<2, true>(d, &t, p, b, out),
                    (_, false) => pixels::<1, false>(d, &t, p, b, out),
                    (_, true) => pixels::<1, true>(d, &t, p, b, out),
                }
            }
            p += px;
        }
    }
}

struct Tables<'a> {
    onehot: &'a [u8],
    init64: &'a [i32],
    scales64: &'a [f32],
    zw64: &'a [i32],
}

/// Pixels `p..p + PX`, channels `64 b..64 b + 64` (fewer in the last block).
///
/// # Safety
/// The CPU has AVX-512 F/BW/VL and VNNI; the pixels and block exist; every offset plus
/// `64 * blocks` lies in `input`; the tables cover every block (`zw64` too when `ZW`); `out`
/// holds `pixels * channels` bytes.
// Index loops over the register arrays read more plainly than iterator chains here.
#[allow(clippy::needless_range_loop)]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn pixels<const PX: usize, const ZW: bool>(
    d: &Depthwise,
    t: &Tables,
    p: usize,
    b: usize,
    out: &mut [u8],
) {
    let mut dot = [[_mm512_setzero_si512(); 4]; PX];
    let mut sum = [[_mm512_setzero_si512(); 4]; PX];
    let ones: [__m512i; 4] = core::array::from_fn(|r| _mm512_set1_epi32(1 << (8 * r)));
    // SAFETY: see the function's contract; the masked store writes only channels below
    // `channels` of each pixel.
    unsafe {
        let w0 = t.onehot.as_ptr().add(b * d.ks * 256);
        for s in 0..d.ks {
            let mut w = [_mm512_setzero_si512(); 4];
            for r in 0..4 {
                w[r] = _mm512_loadu_si512(w0.add((s * 4 + r) * 64).cast());
            }
            for x in 0..PX {
                let off = *d.indirection.get_unchecked((p + x) * d.ks + s);
                let a = _mm512_loadu_si512(d.input.as_ptr().add(off + 64 * b).cast());
                for r in 0..4 {
                    dot[x][r] = _mm512_dpbusd_epi32(dot[x][r], a, w[r]);
                    if ZW {
                        sum[x][r] = _mm512_dpbusd_epi32(sum[x][r], a, ones[r]);
                    }
                }
            }
        }
        let c0 = 64 * b;
        let valid = (d.channels - c0).min(64);
        let mask: __mmask64 = if valid == 64 { !0 } else { (1u64 << valid) - 1 };
        let zp = _mm512_set1_epi32(i32::from(d.output_zp));
        let lo = _mm512_set1_epi32(i32::from(d.min));
        let hi = _mm512_set1_epi32(i32::from(d.max));
        for x in 0..PX {
            let mut bytes = _mm512_setzero_si512();
            for r in 0..4 {
                let at = c0 + 16 * r;
                let mut v = _mm512_add_epi32(
                    dot[x][r],
                    _mm512_loadu_si512(t.init64.as_ptr().add(at).cast()),
                );
                if ZW {
                    let zw = _mm512_loadu_si512(t.zw64.as_ptr().add(at).cast());
                    v = _mm512_sub_epi32(v, _mm512_mullo_epi32(zw, sum[x][r]));
                }
                let scale = _mm512_loadu_ps(t.scales64.as_ptr().add(at));
                let y = requant16(v, scale, zp, lo, hi);
                // Lane j of `y` is channel `4 j + r`: byte r of the output lane.
                let shift = _mm512_set1_epi32(8 * r as i32);
                bytes = _mm512_or_si512(bytes, _mm512_sllv_epi32(y, shift));
            }
            let dst = out.as_mut_ptr().add((p + x) * d.channels + c0);
            if valid == 64 {
                _mm512_storeu_si512(dst.cast(), bytes);
            } else {
                _mm512_mask_storeu_epi8(dst.cast(), mask, bytes);
            }
        }
    }
}
