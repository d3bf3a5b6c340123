//! AVX-512 VNNI depthwise convolution straight on NCHW planes (no channels-last copies), for
//! 1-d and 2-d convolutions whose width stride divides 4.
//!
//! Each channel's plane is copied into a row buffer padded with the input zero point. With
//! `R = 4 / stride` outputs per 4 input bytes, a 64-byte load at `row + r * stride + 4 q`
//! holds in lane `i` the 4 input bytes that output `R i + r` multiplies with taps
//! `4 q ..= 4 q + 3` of one kernel row (positions `t * dilation`), so one `vpdpbusd` with the
//! kernel row's weights broadcast in those byte positions (zeros elsewhere) adds up to four
//! exact `u8 * i8` products for 16 outputs. Padding reads the zero point, whose terms cancel
//! in `sum((a - az)(w - zw)) = sum(a w) - zw sum(a) + (ks az zw - az sum(w))`; the sums of
//! activations (needed when a weight zero point is not 0) use ones in the same positions.

use core::arch::x86_64::*;

use super::requant::requant16;
use super::Isa;

/// One depthwise call on NCHW data (1-d inputs as height 1).
pub(crate) struct Planes<'a> {
    /// `batch * channels * in_hw[0] * in_hw[1]` values.
    pub x: &'a [u8],
    pub batch: usize,
    pub channels: usize,
    pub in_hw: [usize; 2],
    pub out_hw: [usize; 2],
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub dilation: [usize; 2],
    /// Raw `qint8` weights, `[channel][kh][kw]`.
    pub weights: &'a [i8],
    /// Per channel: bias `+ ks az zw - az sum(w)` (wrapping).
    pub init: &'a [i32],
    /// Per channel requantization scale.
    pub scales: &'a [f32],
    /// Per channel `qint8` weight zero point, or `None` when all are 0.
    pub zw: Option<&'a [i32]>,
    pub input_zp: u8,
    pub output_zp: u8,
    pub min: u8,
    pub max: u8,
}

/// Whether the plane kernel handles a width stride.
pub(crate) fn supports_stride(stride_w: usize) -> bool {
    matches!(stride_w, 1 | 2 | 4)
}

/// Runs the convolution into `out` (NCHW, `batch * channels * out_h * out_w` bytes).
///
/// Panics if the CPU lacks AVX-512 VNNI, the width stride is not supported, or the sizes are
/// inconsistent (callers build them; a mismatch is a bug).
pub(crate) fn run(p: &Planes, out: &mut [u8]) {
    let [ih, iw] = p.in_hw;
    let [oh, ow] = p.out_hw;
    let [kh, kw] = p.kernel;
    let [sh, sw] = p.stride;
    let [ph, pw] = p.padding;
    let [dh, dw] = p.dilation;
    let c = p.channels;
    assert!(Isa::Avx512Vnni.detected() && supports_stride(sw));
    assert!(kh > 0 && kw > 0 && sh > 0 && dh > 0 && dw > 0);
    assert_eq!(p.x.len(), p.batch * c * ih * iw);
    assert_eq!(out.len(), p.batch * c * oh * ow);
    assert!(p.weights.len() >= c * kh * kw && p.init.len() >= c && p.scales.len() >= c);
    assert!(p.zw.is_none_or(|z| z.len() >= c));
    if out.is_empty() {
        return;
    }
    // Every tap of every output lies in the padded plane.
    let (hp, wp) = (ih + 2 * ph, iw + 2 * pw);
    assert!((oh - 1) * sh + (kh - 1) * dh < hp && (ow - 1) * sw + (kw - 1) * dw < wp);
    let r = 4 / sw;
    let groups = ow.div_ceil(16 * r);
    let windows = ((kw - 1) * dw + 1).div_ceil(4);
    // Row length: the widest read is `(groups - 1) * 64 + 3 + 4 (windows - 1) + 64` bytes.
    let len = (groups * 64 + 4 * windows + 64).max(wp);
    // Broadcast weights per `[channel][kernel row][window]`, ones per `[kernel row][window]`.
    let place = |v: &mut [u32], value: &dyn Fn(usize, usize) -> u8, ky: usize| {
        for t in 0..kw {
            let at = t * dw;
            v[ky * windows + at / 4] |= u32::from(value(ky, t)) << (8 * (at % 4));
        }
    };
    let mut wins = vec![0u32; c * kh * windows];
    for (ch, w) in wins.chunks_exact_mut(kh * windows).enumerate() {
        for ky in 0..kh {
            place(w, &|ky, t| p.weights[(ch * kh + ky) * kw + t] as u8, ky);
        }
    }
    let mut ones = vec![0u32; kh * windows];
    for ky in 0..kh {
        place(&mut ones, &|_, _| 1, ky);
    }
    let shape = Shape {
        len,
        groups,
        windows,
        ones: &ones,
    };
    // One plane after another, in one contiguous run of planes per thread, each run with its
    // own padded buffer (every plane is computed alone, so results do not depend on the split).
    let plane_out = oh * ow;
    let planes = p.batch * c;
    let run = |first: usize, out: &mut [u8]| {
        let mut buf = vec![p.input_zp; hp * len];
        for (i, dst) in out.chunks_exact_mut(plane_out).enumerate() {
            let (b, ch) = ((first + i) / c, (first + i) % c);
            let plane = &p.x[(b * c + ch) * ih * iw..][..ih * iw];
            for (y, row) in plane.chunks_exact(iw).enumerate() {
                buf[(ph + y) * len + pw..][..iw].copy_from_slice(row);
            }
            let w = &wins[ch * kh * windows..][..kh * windows];
            // SAFETY: AVX-512 VNNI is present (asserted); every read of a kernel row stays
            // inside `buf` (rows below `hp`, offsets below `len` by its construction) and the
            // stores stay inside this channel's `oh * ow` outputs (masked per row).
            unsafe {
                match (r, p.zw.is_some()) {
                    (4, false) => plane_rows::<4, false>(p, &shape, &buf, w, ch, dst),
                    (4, true) => plane_rows::<4, true>(p, &shape, &buf, w, ch, dst),
                    (2, false) => plane_rows::<2, false>(p, &shape, &buf, w, ch, dst),
                    (2, true) => plane_rows::<2, true>(p, &shape, &buf, w, ch, dst),
                    (_, false) => plane_rows::<1, false>(p, &shape, &buf, w, ch, dst),
                    (_, true) => plane_rows::<1, true>(p, &shape, &buf, w, ch, dst),
                }
            }
        }
    };
    let threads = qtensor::threads::num_threads().min(planes);
    if threads <= 1 || out.len() < 1 << 16 {
        return run(0, out);
    }
    let per = planes.div_ceil(threads);
    qtensor::threads::for_each_chunk_mut(out, per * plane_out, |i, part| run(i * per, part));
}

/// The padded-row layout shared by every channel.
struct Shape<'a> {
    /// Bytes per padded row.
    len: usize,
    /// Groups of `16 R` outputs per output row.
    groups: usize,
    /// 4-byte windows per kernel row.
    windows: usize,
    /// Ones in the tap positions, `[kernel row][window]`.
    ones: &'a [u32],
}

/// Every output row of one channel.
///
/// # Safety
/// The CPU has AVX-512 F/BW/VL and VNNI; `buf` holds `(in_h + 2 pad_h)` padded rows of
/// `s.len` bytes with `s.len >= groups * 64 + 4 windows + 64`; the kernel fits the padded
/// plane; `w` holds `kh * windows` weights; `dst` holds `out_h * out_w` bytes.
// Index loops over the register arrays read more plainly than iterator chains here.
#[allow(clippy::needless_range_loop)]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn plane_rows<const R: usize, const ZW: bool>(
    p: &Planes,
    s: &Shape,
    buf: &[u8],
    w: &[u32],
    ch: usize,
    dst: &mut [u8],
) {
    let [oh, ow] = p.out_hw;
    let [kh, _] = p.kernel;
    let [sh, sw] = p.stride;
    let [dh, _] = p.dilation;
    let init = _mm512_set1_epi32(p.init[ch]);
    let scale = _mm512_set1_ps(p.scales[ch]);
    let zw = _mm512_set1_epi32(p.zw.map_or(0, |z| z[ch]));
    let zp = _mm512_set1_epi32(i32::from(p.output_zp));
    let lo = _mm512_set1_epi32(i32::from(p.min));
    let hi = _mm512_set1_epi32(i32::from(p.max));
    for y in 0..oh {
        for g in 0..s.groups {
            let mut dot = [_mm512_setzero_si512(); R];
            let mut sum = [_mm512_setzero_si512(); R];
            for ky in 0..kh {
                // SAFETY: (contract) row `y * sh + ky * dh` is a padded row and every read
                // below ends before `g * 64 + 3 + 4 windows + 64 <= s.len`.
                unsafe {
                    let row = buf.as_ptr().add((y * sh + ky * dh) * s.len + g * 64);
                    for q in 0..s.windows {
                        let wv = _mm512_set1_epi32(*w.get_unchecked(ky * s.windows + q) as i32);
                        let ov =
                            _mm512_set1_epi32(*s.ones.get_unchecked(ky * s.windows + q) as i32);
                        for r in 0..R {
                            let a = _mm512_loadu_si512(row.add(r * sw + 4 * q).cast());
                            dot[r] = _mm512_dpbusd_epi32(dot[r], a, wv);
                            if ZW {
                                sum[r] = _mm512_dpbusd_epi32(sum[r], a, ov);
                            }
                        }
                    }
                }
            }
            // Lane i of residue r is output `R i + r`: byte r of an R-byte group.
            let mut packed = _mm512_setzero_si512();
            for r in 0..R {
                let mut v = _mm512_add_epi32(dot[r], init);
                if ZW {
                    v = _mm512_sub_epi32(v, _mm512_mullo_epi32(zw, sum[r]));
                }
                let y8 = requant16(v, scale, zp, lo, hi);
                packed = _mm512_or_si512(
                    packed,
                    _mm512_sllv_epi32(y8, _mm512_set1_epi32(8 * r as i32)),
                );
            }
            let o0 = g * 16 * R;
            let valid = (ow - o0).min(16 * R);
            // SAFETY: (contract) outputs `y * ow + o0 .. + valid` lie in `dst`; the masks
            // keep the stores to them.
            unsafe {
                let at = dst.as_mut_ptr().add(y * ow + o0).cast();
                match R {
                    4 => _mm512_mask_storeu_epi8(at, mask64(valid), packed),
                    2 => {
                        let m = mask64(valid) as __mmask32;
                        _mm256_mask_storeu_epi8(at, m, _mm512_cvtepi32_epi16(packed));
                    }
                    _ => {
                        let m = mask64(valid) as __mmask16;
                        _mm_mask_storeu_epi8(at, m, _mm512_cvtepi32_epi8(packed));
                    }
                }
            }
        }
    }
}

/// Bytes below `valid` (at most 64).
fn mask64(valid: usize) -> __mmask64 {
    if valid >= 64 {
        !0
    } else {
        (1u64 << valid) - 1
    }
}
