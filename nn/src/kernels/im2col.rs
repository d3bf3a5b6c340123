//! Convolution lowering: `im2col` / `col2im` for 1-, 2- and 3-D convolutions (NC[D][H]W),
//! and a direct depthwise kernel (a kernel module: its AVX2 variant is the crate's other
//! `unsafe`). One geometry covers every rank: missing leading spatial
//! dimensions have size 1, kernel 1, stride 1, padding 0, dilation 1.

use std::ops::Range;

/// The geometry of one convolution group, spatial dimensions padded to 3.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Geom {
    /// Input channels of the group.
    pub channels: usize,
    /// Input spatial size.
    pub input: [usize; 3],
    /// Output spatial size.
    pub output: [usize; 3],
    /// Kernel size.
    pub kernel: [usize; 3],
    /// Stride.
    pub stride: [usize; 3],
    /// Zero padding on each side.
    pub padding: [usize; 3],
    /// Dilation.
    pub dilation: [usize; 3],
}

impl Geom {
    /// Elements of one input channel.
    pub fn input_len(&self) -> usize {
        self.input.iter().product()
    }

    /// Output positions (`L`, the number of columns).
    pub fn output_len(&self) -> usize {
        self.output.iter().product()
    }

    /// Kernel taps per channel.
    pub fn kernel_len(&self) -> usize {
        self.kernel.iter().product()
    }

    /// Rows of the column matrix: `channels * kernel_len`.
    pub fn rows(&self) -> usize {
        self.channels * self.kernel_len()
    }

    /// True when the column matrix is the input itself (1x1 kernel, stride 1, no padding).
    pub fn is_pointwise(&self) -> bool {
        self.kernel == [1, 1, 1] && self.stride == [1, 1, 1] && self.padding == [0, 0, 0]
    }

    /// The input index along axis `a` for output index `o` and kernel tap `k`, if inside.
    #[inline(always)]
    fn source(&self, a: usize, o: usize, k: usize) -> Option<usize> {
        let i = (o * self.stride[a] + k * self.dilation[a]) as isize - self.padding[a] as isize;
        (i >= 0 && (i as usize) < self.input[a]).then_some(i as usize)
    }

    /// The range of output columns along the last axis whose input index is inside, for tap `k`.
    #[inline(always)]
    fn valid_w(&self, k: usize) -> (usize, usize) {
        let (s, p, w) = (
            self.stride[2],
            self.padding[2] as isize,
            self.input[2] as isize,
        );
        let off = (k * self.dilation[2]) as isize - p;
        // iw = ow * s + off must satisfy 0 <= iw < w.
        let lo = if off >= 0 {
            0
        } else {
            ((-off) as usize).div_ceil(s)
        };
        let hi = if w - off <= 0 {
            0
        } else {
            ((w - off) as usize).div_ceil(s)
        };
        let hi = hi.min(self.output[2]);
        (lo.min(hi), hi)
    }
}

/// Visits every (row of the column matrix, output row) pair with its input row, if any:
/// `f(row, out_row_index, Some(input_row_offset) | None, kw)`.
#[inline(always)]
fn for_each_row(g: &Geom, mut f: impl FnMut(usize, usize, Option<usize>, usize)) {
    let [kd, kh, kw] = g.kernel;
    let [od, oh, _] = g.output;
    let [_, ih_len, iw_len] = g.input;
    for c in 0..g.channels {
        for a in 0..kd {
            for b in 0..kh {
                for e in 0..kw {
                    let row = ((c * kd + a) * kh + b) * kw + e;
                    for z in 0..od {
                        let sz = g.source(0, z, a);
                        for y in 0..oh {
                            let src = match (sz, g.source(1, y, b)) {
                                (Some(iz), Some(iy)) => {
                                    Some(c * g.input_len() + (iz * ih_len + iy) * iw_len)
                                }
                                _ => None,
                            };
                            f(row, z * oh + y, src, e);
                        }
                    }
                }
            }
        }
    }
}

/// Fills `cols` (`rows x L`, row-major) from one group's input `x` (`channels x input_len`).
pub(crate) fn im2col(g: &Geom, x: &[f32], cols: &mut [f32]) {
    im2col_rows(g, x, 0..g.output[0] * g.output[1], cols);
}

/// [`im2col`] for the output rows (index `z * OH + y`) in `out_rows` only: `cols` is
/// `rows x (len(out_rows) * OW)`, so one thread can lower its share of the output.
pub(crate) fn im2col_rows(g: &Geom, x: &[f32], out_rows: Range<usize>, cols: &mut [f32]) {
    let ow = g.output[2];
    let l = out_rows.len() * ow;
    assert!(x.len() >= g.channels * g.input_len() && cols.len() >= g.rows() * l);
    let s = g.stride[2];
    for_each_row(g, |row, out_row, src, e| {
        if !out_rows.contains(&out_row) {
            return;
        }
        let out_row = out_row - out_rows.start;
        let dst = &mut cols[row * l + out_row * ow..row * l + (out_row + 1) * ow];
        let Some(base) = src else {
            dst.fill(0.0);
            return;
        };
        let (lo, hi) = g.valid_w(e);
        dst[..lo].fill(0.0);
        dst[hi..].fill(0.0);
        if lo == hi {
            return;
        }
        let start = base + lo * s + e * g.dilation[2] - g.padding[2];
        let n = hi - lo;
        if s == 1 {
            dst[lo..hi].copy_from_slice(&x[start..start + n]);
        } else if s == 2 {
            // Every other element: pairs the compiler vectorises (the last element alone,
            // since its pair may run past the input).
            let (body, last) = dst[lo..hi].split_at_mut(n - 1);
            for (d, pair) in body
                .iter_mut()
                .zip(x[start..start + 2 * (n - 1)].chunks_exact(2))
            {
                *d = pair[0];
            }
            last[0] = x[start + 2 * (n - 1)];
        } else {
            for (i, d) in dst[lo..hi].iter_mut().enumerate() {
                *d = x[start + i * s];
            }
        }
    });
}

/// Adds `cols` (`rows x L`) back into one group's input gradient `x` (the adjoint of [`im2col`]).
pub(crate) fn col2im(g: &Geom, cols: &[f32], x: &mut [f32]) {
    let (l, ow) = (g.output_len(), g.output[2]);
    assert!(x.len() >= g.channels * g.input_len() && cols.len() >= g.rows() * l);
    let s = g.stride[2];
    for_each_row(g, |row, out_row, src, e| {
        let Some(base) = src else { return };
        let (lo, hi) = g.valid_w(e);
        if lo == hi {
            return;
        }
        let srcs = &cols[row * l + out_row * ow + lo..row * l + out_row * ow + hi];
        let start = base + lo * s + e * g.dilation[2] - g.padding[2];
        if s == 1 {
            for (d, v) in x[start..start + (hi - lo)].iter_mut().zip(srcs) {
                *d += v;
            }
        } else {
            for (i, v) in srcs.iter().enumerate() {
                x[start + i * s] += v;
            }
        }
    });
}

/// Direct depthwise convolution of one channel: `out (L) += sum_taps w[tap] * x[tap-shifted]`.
/// Rows of a 2-D (or 1-D) kernel are processed together; 3-wide stride-1 rows take a fused
/// loop that reads and writes each output once per kernel row. On CPUs with AVX2 and FMA the
/// same code is compiled for them (chosen at run time, once).
pub(crate) fn depthwise_channel(g: &Geom, x: &[f32], w: &[f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::sync::OnceLock;
        static AVX2_FMA: OnceLock<bool> = OnceLock::new();
        let has = *AVX2_FMA.get_or_init(|| {
            std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
        });
        if has {
            // SAFETY: the CPU supports AVX2 and FMA (checked above), the only requirement of
            // `depthwise_avx2`; its body is safe code.
            unsafe { depthwise_avx2(g, x, w, out) };
            return;
        }
    }
    depthwise_body::<false>(g, x, w, out);
}

/// [`depthwise_body`] compiled with AVX2 and FMA enabled.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn depthwise_avx2(g: &Geom, x: &[f32], w: &[f32], out: &mut [f32]) {
    depthwise_body::<true>(g, x, w, out);
}

/// `a * b + c`, fused where the caller's code is compiled with FMA.
#[inline(always)]
fn fmadd<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

#[inline(always)]
fn depthwise_body<const FMA: bool>(g: &Geom, x: &[f32], w: &[f32], out: &mut [f32]) {
    debug_assert_eq!(g.channels, 1);
    let unit = g.stride == [1, 1, 1] && g.dilation == [1, 1, 1];
    if unit && g.kernel == [1, 3, 3] && g.input[0] == 1 && g.padding[0] == 0 {
        return depthwise3x3_padded::<FMA>(g, x, w, out);
    }
    if g.kernel[0] != 1 || g.input[0] != 1 || g.padding[0] != 0 {
        return depthwise_generic(g, x, w, out);
    }
    let iw = g.input[2];
    let (oh, ow) = (g.output[1], g.output[2]);
    let (kh, kw) = (g.kernel[1], g.kernel[2]);
    let (sw, dw, pw) = (g.stride[2], g.dilation[2], g.padding[2]);
    let ranges: Vec<(usize, usize)> = (0..kw).map(|e| g.valid_w(e)).collect();
    // Columns where every tap of a kernel row is inside the input.
    let (all_lo, all_hi) = ranges
        .iter()
        .fold((0, ow), |(lo, hi), &(l, h)| (lo.max(l), hi.min(h)));
    let fused = kw == 3 && sw == 1 && dw == 1 && all_lo < all_hi;
    let fused3x3 = fused && kh == 3 && g.dilation[1] == 1;
    for y in 0..oh {
        let orow = &mut out[y * ow..(y + 1) * ow];
        // A 3x3 window whose three input rows all exist: one pass of nine FMAs per output over
        // the interior columns; the border columns go through the per-tap loop below.
        let rows3 = (0..3)
            .map(|a| g.source(1, y, a))
            .collect::<Option<Vec<usize>>>();
        let all_rows = fused3x3 && rows3.is_some();
        if let (true, Some(r)) = (all_rows, &rows3) {
            let base = all_lo - pw;
            let n = all_hi - all_lo;
            let row = |k: usize, off: usize| &x[r[k] * iw + base + off..r[k] * iw + base + off + n];
            let (a0, a1, a2, b0, b1, b2, c0, c1, c2) = (
                row(0, 0),
                row(0, 1),
                row(0, 2),
                row(1, 0),
                row(1, 1),
                row(1, 2),
                row(2, 0),
                row(2, 1),
                row(2, 2),
            );
            let wv: [f32; 9] = [w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7], w[8]];
            for (i, o) in orow[all_lo..all_hi].iter_mut().enumerate() {
                let mut acc = *o;
                acc = fmadd::<FMA>(wv[0], a0[i], acc);
                acc = fmadd::<FMA>(wv[1], a1[i], acc);
                acc = fmadd::<FMA>(wv[2], a2[i], acc);
                acc = fmadd::<FMA>(wv[3], b0[i], acc);
                acc = fmadd::<FMA>(wv[4], b1[i], acc);
                acc = fmadd::<FMA>(wv[5], b2[i], acc);
                acc = fmadd::<FMA>(wv[6], c0[i], acc);
                acc = fmadd::<FMA>(wv[7], c1[i], acc);
                acc = fmadd::<FMA>(wv[8], c2[i], acc);
                *o = acc;
            }
        }
        for a in 0..kh {
            let Some(iy) = g.source(1, y, a) else {
                continue;
            };
            let xrow = &x[iy * iw..(iy + 1) * iw];
            let taps = &w[a * kw..(a + 1) * kw];
            if fused && !all_rows {
                let (w0, w1, w2) = (taps[0], taps[1], taps[2]);
                // Input column of tap 0 at output column all_lo.
                let base = all_lo - pw;
                let n = all_hi - all_lo;
                let (x0, x1, x2) = (
                    &xrow[base..base + n],
                    &xrow[base + 1..base + 1 + n],
                    &xrow[base + 2..base + 2 + n],
                );
                for (((o, &p), &q), &r) in orow[all_lo..all_hi].iter_mut().zip(x0).zip(x1).zip(x2) {
                    *o += fmadd::<FMA>(w0, p, fmadd::<FMA>(w1, q, w2 * r));
                }
            }
            for (e, &(lo, hi)) in ranges.iter().enumerate() {
                let wv = taps[e];
                let mut axpy = |from: usize, to: usize| {
                    if from >= to {
                        return;
                    }
                    let start = from * sw + e * dw - pw;
                    if sw == 1 {
                        for (o, v) in orow[from..to]
                            .iter_mut()
                            .zip(&xrow[start..start + (to - from)])
                        {
                            *o += wv * v;
                        }
                    } else {
                        for (i, o) in orow[from..to].iter_mut().enumerate() {
                            *o += wv * xrow[start + i * sw];
                        }
                    }
                };
                if fused {
                    axpy(lo, hi.min(all_lo));
                    axpy(lo.max(all_hi), hi);
                } else {
                    axpy(lo, hi);
                }
            }
        }
    }
}

/// A 3x3, stride-1 depthwise channel through a zero-padded copy of the plane whose rows are
/// wide enough that every output row is a whole number of 8-lane vectors: the inner loop has
/// no borders and no remainder.
#[inline(always)]
fn depthwise3x3_padded<const FMA: bool>(g: &Geom, x: &[f32], w: &[f32], out: &mut [f32]) {
    let (h, iw) = (g.input[1], g.input[2]);
    let (oh, ow) = (g.output[1], g.output[2]);
    let (ph, pw) = (g.padding[1], g.padding[2]);
    let ow_r = ow.div_ceil(8) * 8;
    let width = ow_r + 2;
    let rows = oh + 2;
    let mut plane = vec![0.0f32; rows * width];
    let mut acc = vec![0.0f32; 2 * ow_r];
    for r in 0..rows {
        let Some(src_r) = (r as isize - ph as isize)
            .try_into()
            .ok()
            .filter(|&v: &usize| v < h)
        else {
            continue;
        };
        let n = iw.min(width.saturating_sub(pw));
        plane[r * width + pw..r * width + pw + n].copy_from_slice(&x[src_r * iw..src_r * iw + n]);
    }
    let wv: [f32; 9] = [w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7], w[8]];
    // Two output rows per pass: they share two of their four input rows.
    for y in (0..oh).step_by(2) {
        let pair = (oh - y).min(2);
        let row = |r: usize| {
            let r = (y + r).min(rows - 1);
            &plane[r * width..(r + 1) * width]
        };
        let (r0, r1, r2, r3) = (row(0), row(1), row(2), row(3));
        // Shifted views of exactly `ow_r` elements: no bounds checks in the loop.
        let (t0, t1, t2, t3) = (
            shifts(r0, ow_r),
            shifts(r1, ow_r),
            shifts(r2, ow_r),
            shifts(r3, ow_r),
        );
        let (a0, a1) = acc.split_at_mut(ow_r);
        for (c, (a0, a1)) in a0
            .chunks_exact_mut(8)
            .zip(a1.chunks_exact_mut(8))
            .enumerate()
        {
            let lanes =
                |t: &[f32]| -> [f32; 8] { t[c * 8..c * 8 + 8].try_into().expect("8 lanes") };
            let (mut v0, mut v1) = ([0.0f32; 8], [0.0f32; 8]);
            for (dy, (upper, lower)) in [(&t0, &t1), (&t1, &t2), (&t2, &t3)].into_iter().enumerate()
            {
                for dx in 0..3 {
                    let (wk, p, q) = (wv[dy * 3 + dx], lanes(upper[dx]), lanes(lower[dx]));
                    for l in 0..8 {
                        v0[l] = fmadd::<FMA>(wk, p[l], v0[l]);
                        v1[l] = fmadd::<FMA>(wk, q[l], v1[l]);
                    }
                }
            }
            a0.copy_from_slice(&v0);
            a1.copy_from_slice(&v1);
        }
        for (i, a) in [&acc[..ow_r], &acc[ow_r..]]
            .into_iter()
            .take(pair)
            .enumerate()
        {
            for (o, a) in out[(y + i) * ow..(y + i + 1) * ow].iter_mut().zip(a) {
                *o += a;
            }
        }
    }
}

/// The three views of `ow_r` elements of a padded row that a 3-wide kernel reads.
#[inline(always)]
fn shifts(r: &[f32], ow_r: usize) -> [&[f32]; 3] {
    [&r[..ow_r], &r[1..ow_r + 1], &r[2..ow_r + 2]]
}

fn depthwise_generic(g: &Geom, x: &[f32], w: &[f32], out: &mut [f32]) {
    let ow = g.output[2];
    let s = g.stride[2];
    for_each_row(g, |row, out_row, src, e| {
        let Some(base) = src else { return };
        let (lo, hi) = g.valid_w(e);
        if lo == hi {
            return;
        }
        let wv = w[row];
        let start = base + lo * s + e * g.dilation[2] - g.padding[2];
        let dst = &mut out[out_row * ow + lo..out_row * ow + hi];
        if s == 1 {
            for (d, v) in dst.iter_mut().zip(&x[start..start + (hi - lo)]) {
                *d += wv * v;
            }
        } else {
            for (i, d) in dst.iter_mut().enumerate() {
                *d += wv * x[start + i * s];
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geom(
        input: [usize; 3],
        kernel: [usize; 3],
        stride: [usize; 3],
        padding: [usize; 3],
        dilation: [usize; 3],
    ) -> Geom {
        let mut output = [0; 3];
        for a in 0..3 {
            output[a] =
                (input[a] + 2 * padding[a] - dilation[a] * (kernel[a] - 1) - 1) / stride[a] + 1;
        }
        Geom {
            channels: 1,
            input,
            output,
            kernel,
            stride,
            padding,
            dilation,
        }
    }

    /// Direct single-channel convolution.
    fn reference(g: &Geom, x: &[f32], w: &[f32]) -> Vec<f32> {
        let mut out = Vec::new();
        for z in 0..g.output[0] {
            for y in 0..g.output[1] {
                for xx in 0..g.output[2] {
                    let mut acc = 0.0f64;
                    for a in 0..g.kernel[0] {
                        for b in 0..g.kernel[1] {
                            for c in 0..g.kernel[2] {
                                let (Some(i), Some(j), Some(k)) =
                                    (g.source(0, z, a), g.source(1, y, b), g.source(2, xx, c))
                                else {
                                    continue;
                                };
                                let wv = w[(a * g.kernel[1] + b) * g.kernel[2] + c];
                                acc += f64::from(wv)
                                    * f64::from(x[(i * g.input[1] + j) * g.input[2] + k]);
                            }
                        }
                    }
                    out.push(acc as f32);
                }
            }
        }
        out
    }

    fn geoms() -> Vec<Geom> {
        vec![
            geom([1, 7, 9], [1, 3, 3], [1, 1, 1], [0, 1, 1], [1, 1, 1]),
            geom([1, 5, 17], [1, 3, 3], [1, 1, 1], [0, 2, 0], [1, 1, 1]),
            geom([1, 8, 7], [1, 3, 3], [1, 2, 2], [0, 1, 1], [1, 1, 1]),
            geom([1, 8, 8], [1, 3, 3], [1, 1, 1], [0, 2, 2], [1, 2, 2]),
            geom([1, 6, 9], [1, 5, 5], [1, 1, 1], [0, 2, 2], [1, 1, 1]),
            geom([1, 1, 12], [1, 1, 3], [1, 1, 2], [0, 0, 1], [1, 1, 1]),
            geom([3, 4, 5], [2, 3, 3], [1, 1, 1], [1, 1, 1], [1, 1, 1]),
            geom([1, 6, 6], [1, 3, 3], [1, 2, 1], [0, 1, 1], [1, 1, 1]),
        ]
    }

    fn data(n: usize, seed: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (((i * 31 + seed * 17) % 23) as f32 - 11.0) / 7.0)
            .collect()
    }

    #[test]
    fn depthwise_paths_match_the_direct_convolution() {
        for (i, g) in geoms().iter().enumerate() {
            let x = data(g.input_len(), i);
            let w = data(g.kernel_len(), i + 5);
            let r = reference(g, &x, &w);
            let mut portable = vec![0.0f32; g.output_len()];
            depthwise_body::<false>(g, &x, &w, &mut portable);
            let mut dispatched = vec![0.0f32; g.output_len()];
            depthwise_channel(g, &x, &w, &mut dispatched);
            for (k, want) in r.iter().enumerate() {
                assert!(
                    (portable[k] - want).abs() < 1e-4,
                    "portable, geometry {i}, element {k}"
                );
                assert!(
                    (dispatched[k] - want).abs() < 1e-4,
                    "dispatched, geometry {i}, element {k}"
                );
            }
        }
    }

    #[test]
    fn col2im_is_the_adjoint_of_im2col() {
        for (i, g) in geoms().iter().enumerate() {
            let g = Geom { channels: 2, ..*g };
            let x = data(g.channels * g.input_len(), i);
            let c = data(g.rows() * g.output_len(), i + 3);
            let mut cols = vec![f32::NAN; g.rows() * g.output_len()];
            im2col(&g, &x, &mut cols);
            let mut back = vec![0.0f32; x.len()];
            col2im(&g, &c, &mut back);
            let lhs: f64 = cols
                .iter()
                .zip(&c)
                .map(|(a, b)| f64::from(*a) * f64::from(*b))
                .sum();
            let rhs: f64 = x
                .iter()
                .zip(&back)
                .map(|(a, b)| f64::from(*a) * f64::from(*b))
                .sum();
            assert!(
                (lhs - rhs).abs() < 1e-3 * (1.0 + lhs.abs()),
                "geometry {i}: {lhs} vs {rhs}"
            );
        }
    }
}
