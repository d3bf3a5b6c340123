//! `C = bias + A @ B` with `B` packed once into panels of [`NR`] columns, for a weight that is
//! multiplied many times (the recurrent weight of an RNN at every time step). Rows of `A` are
//! taken up to eight at a time; each panel is streamed once per row block, so few-row products
//! stay compute-bound instead of repacking the weight on every call. The AVX-512 kernel is
//! chosen at run time, once; other CPUs run a portable body (compiled for AVX2+FMA where
//! available).

use std::ops::Range;
use std::sync::OnceLock;

/// Columns per packed panel.
pub(crate) const NR: usize = 32;
/// Rows of `A` per kernel call.
const MR: usize = 8;

/// `B (k x n)` packed as `panels` blocks of `k x NR` (row-major inside a panel), zero-padded.
pub(crate) struct PackedB {
    k: usize,
    panels: usize,
    data: Vec<f32>,
}

impl PackedB {
    /// Packs `B = W^T` column by column: packed column `q` is row `src(q)` of the row-major
    /// `w (rows x k)`, or zeros where `src(q)` is `None`; `cols` packed columns in all.
    pub(crate) fn from_rows(
        w: &[f32],
        k: usize,
        cols: usize,
        src: impl Fn(usize) -> Option<usize>,
    ) -> PackedB {
        let panels = cols.div_ceil(NR);
        let mut data = vec![0.0f32; panels * k * NR];
        for q in 0..cols {
            let Some(r) = src(q) else { continue };
            let row = &w[r * k..(r + 1) * k];
            let (p, j) = (q / NR, q % NR);
            let panel = &mut data[p * k * NR..(p + 1) * k * NR];
            for (kk, &v) in row.iter().enumerate() {
                panel[kk * NR + j] = v;
            }
        }
        PackedB { k, panels, data }
    }

    /// Number of panels.
    pub(crate) fn panels(&self) -> usize {
        self.panels
    }

    fn panel(&self, p: usize) -> &[f32] {
        &self.data[p * self.k * NR..(p + 1) * self.k * NR]
    }
}

/// For the panels in `panels` and rows `i < m`:
/// `out[i * ldc + (p - panels.start) * NR + j] = bias[p * NR + j] + sum_kk a[i * lda + kk] *
/// B[kk, p * NR + j]` (bias 0 when `None`); `a` is row-major with leading dimension `lda`.
pub(crate) fn gemm_packed(
    m: usize,
    a: (&[f32], usize),
    b: &PackedB,
    panels: Range<usize>,
    bias: Option<&[f32]>,
    (out, ldc): (&mut [f32], usize),
) {
    let (a, lda) = a;
    let k = b.k;
    assert!(panels.end <= b.panels && panels.start <= panels.end);
    let width = (panels.end - panels.start) * NR;
    assert!(m == 0 || (a.len() >= (m - 1) * lda + k && lda >= k));
    assert!(m == 0 || width == 0 || (out.len() >= (m - 1) * ldc + width && ldc >= width));
    if let Some(bias) = bias {
        assert!(bias.len() >= panels.end * NR);
    }
    let kernel = *KERNEL.get_or_init(choose);
    let zero = [0.0f32; NR];
    for i0 in (0..m).step_by(MR) {
        let rows = (m - i0).min(MR);
        let a_blk = &a[i0 * lda..];
        let out_blk = &mut out[i0 * ldc..];
        for (o, p) in panels.clone().enumerate() {
            let bias = bias.map_or(&zero[..], |bb| &bb[p * NR..(p + 1) * NR]);
            let tile = Tile {
                rows,
                k,
                a: a_blk,
                lda,
                panel: b.panel(p),
                bias,
            };
            kernel(&tile, &mut out_blk[o * NR..], ldc);
        }
    }
}

/// One kernel call: `rows <= MR` rows of `A` against one panel.
struct Tile<'a> {
    rows: usize,
    k: usize,
    a: &'a [f32],
    lda: usize,
    panel: &'a [f32],
    bias: &'a [f32],
}

type Kernel = fn(&Tile<'_>, &mut [f32], usize);

static KERNEL: OnceLock<Kernel> = OnceLock::new();

fn choose() -> Kernel {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return tile_avx512;
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return tile_avx2;
        }
    }
    tile_portable
}

/// The portable tile: one row at a time, `NR` accumulators that the compiler vectorizes.
#[inline(always)]
fn tile_body<const FMA: bool>(t: &Tile<'_>, out: &mut [f32], ldc: usize) {
    for i in 0..t.rows {
        let arow = &t.a[i * t.lda..i * t.lda + t.k];
        let mut acc = [0.0f32; NR];
        for (kk, &av) in arow.iter().enumerate() {
            let brow: &[f32; NR] = t.panel[kk * NR..(kk + 1) * NR]
                .try_into()
                .expect("NR lanes");
            for j in 0..NR {
                acc[j] = if FMA {
                    av.mul_add(brow[j], acc[j])
                } else {
                    acc[j] + av * brow[j]
                };
            }
        }
        for (j, o) in out[i * ldc..i * ldc + NR].iter_mut().enumerate() {
            *o = t.bias[j] + acc[j];
        }
    }
}

fn tile_portable(t: &Tile<'_>, out: &mut [f32], ldc: usize) {
    tile_body::<false>(t, out, ldc);
}

#[cfg(target_arch = "x86_64")]
fn tile_avx2(t: &Tile<'_>, out: &mut [f32], ldc: usize) {
    // SAFETY: chosen only when the CPU has AVX2 and FMA (see `choose`).
    unsafe { tile_avx2_impl(t, out, ldc) }
}

/// [`tile_body`] compiled for AVX2+FMA.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn tile_avx2_impl(t: &Tile<'_>, out: &mut [f32], ldc: usize) {
    tile_body::<true>(t, out, ldc);
}

#[cfg(target_arch = "x86_64")]
fn tile_avx512(t: &Tile<'_>, out: &mut [f32], ldc: usize) {
    assert!(t.rows <= MR && t.panel.len() >= t.k * NR && t.bias.len() >= NR);
    assert!(t.rows == 0 || t.a.len() >= (t.rows - 1) * t.lda + t.k);
    assert!(t.rows == 0 || out.len() >= (t.rows - 1) * ldc + NR);
    // SAFETY: chosen only when the CPU has AVX-512F (see `choose`); the asserts above are the
    // bounds `tile_avx512_rows` relies on.
    unsafe {
        match t.rows {
            1 => tile_avx512_rows::<1, 4>(t, out, ldc),
            2 => tile_avx512_rows::<2, 2>(t, out, ldc),
            3 => tile_avx512_rows::<3, 2>(t, out, ldc),
            4 => tile_avx512_rows::<4, 2>(t, out, ldc),
            5 => tile_avx512_rows::<5, 1>(t, out, ldc),
            6 => tile_avx512_rows::<6, 1>(t, out, ldc),
            7 => tile_avx512_rows::<7, 1>(t, out, ldc),
            8 => tile_avx512_rows::<8, 1>(t, out, ldc),
            _ => {}
        }
    }
}

/// `R` rows against one panel: `2 * R` 16-lane accumulators per set, `S` sets over alternating
/// `k` (independent chains keep the FMA units busy when `R` is small).
///
/// # Safety
/// The CPU must support AVX-512F; `t.a` holds `R` rows of `t.k` values at stride `t.lda`,
/// `t.panel` holds `t.k * NR` values, `t.bias` `NR`, and `out` `R` rows of `NR` at stride `ldc`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn tile_avx512_rows<const R: usize, const S: usize>(
    t: &Tile<'_>,
    out: &mut [f32],
    ldc: usize,
) {
    use std::arch::x86_64::*;
    let (a, b) = (t.a.as_ptr(), t.panel.as_ptr());
    let mut acc = [[[_mm512_setzero_ps(); 2]; R]; S];
    let k = t.k;
    let main = k / S * S;
    let mut kk = 0;
    while kk < main {
        for (s, set) in acc.iter_mut().enumerate() {
            // SAFETY: kk + s < k, so the panel row `(kk + s) * NR .. + NR` and the A elements
            // `i * lda + kk + s` (i < R) are inside the slices (caller's contract).
            unsafe {
                let bp = b.add((kk + s) * NR);
                let b0 = _mm512_loadu_ps(bp);
                let b1 = _mm512_loadu_ps(bp.add(16));
                for (i, row) in set.iter_mut().enumerate() {
                    let av = _mm512_set1_ps(*a.add(i * t.lda + kk + s));
                    row[0] = _mm512_fmadd_ps(av, b0, row[0]);
                    row[1] = _mm512_fmadd_ps(av, b1, row[1]);
                }
            }
        }
        kk += S;
    }
    while kk < k {
        // SAFETY: kk < k, as above.
        unsafe {
            let bp = b.add(kk * NR);
            let b0 = _mm512_loadu_ps(bp);
            let b1 = _mm512_loadu_ps(bp.add(16));
            for (i, row) in acc[0].iter_mut().enumerate() {
                let av = _mm512_set1_ps(*a.add(i * t.lda + kk));
                row[0] = _mm512_fmadd_ps(av, b0, row[0]);
                row[1] = _mm512_fmadd_ps(av, b1, row[1]);
            }
        }
        kk += 1;
    }
    // SAFETY: `bias` holds NR values and `out` R rows of NR at stride ldc (caller's contract).
    unsafe {
        let bias0 = _mm512_loadu_ps(t.bias.as_ptr());
        let bias1 = _mm512_loadu_ps(t.bias.as_ptr().add(16));
        for i in 0..R {
            let mut v0 = acc[0][i][0];
            let mut v1 = acc[0][i][1];
            for set in acc.iter().skip(1) {
                v0 = _mm512_add_ps(v0, set[i][0]);
                v1 = _mm512_add_ps(v1, set[i][1]);
            }
            let o = out.as_mut_ptr().add(i * ldc);
            _mm512_storeu_ps(o, _mm512_add_ps(bias0, v0));
            _mm512_storeu_ps(o.add(16), _mm512_add_ps(bias1, v1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize, seed: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (((i * 37 + seed * 11) % 29) as f32 - 14.0) / 9.0)
            .collect()
    }

    /// Checks every kernel this CPU has against a plain f64 sum, on ragged shapes, a column
    /// permutation with padding, bias and a sub-range of panels.
    fn check(kernel: Kernel, name: &str) {
        for &(m, n, k) in &[
            (1, 1, 1),
            (1, 32, 7),
            (3, 33, 5),
            (7, 31, 17),
            (8, 64, 64),
            (9, 65, 33),
            (17, 100, 3),
            (2, 40, 0),
            (0, 40, 4),
        ] {
            let w = data(n * k, n + k);
            let a = data(m * (k + 2), m);
            // Packed column q takes weight row n-1-q (reversed), padded to whole panels.
            let cols = n.div_ceil(NR) * NR;
            let packed = PackedB::from_rows(&w, k, cols, |q| (q < n).then(|| n - 1 - q));
            let bias = data(cols, 3);
            for panels in [0..packed.panels(), packed.panels().min(1)..packed.panels()] {
                let width = panels.len() * NR;
                let ldc = width + 3;
                let mut out = vec![f32::NAN; m * ldc];
                let mut i0 = 0;
                // Drive the kernel directly, as gemm_packed does.
                while i0 < m {
                    let rows = (m - i0).min(MR);
                    for (o, p) in panels.clone().enumerate() {
                        let tile = Tile {
                            rows,
                            k,
                            a: &a[i0 * (k + 2)..],
                            lda: k + 2,
                            panel: packed.panel(p),
                            bias: &bias[p * NR..(p + 1) * NR],
                        };
                        kernel(&tile, &mut out[i0 * ldc + o * NR..], ldc);
                    }
                    i0 += MR;
                }
                let mut via = vec![f32::NAN; m * ldc];
                gemm_packed(
                    m,
                    (&a, k + 2),
                    &packed,
                    panels.clone(),
                    Some(&bias),
                    (&mut via, ldc),
                );
                for i in 0..m {
                    for (o, p) in panels.clone().enumerate() {
                        for j in 0..NR {
                            let q = p * NR + j;
                            let mut want = f64::from(bias[q]);
                            if q < n {
                                for kk in 0..k {
                                    want += f64::from(a[i * (k + 2) + kk])
                                        * f64::from(w[(n - 1 - q) * k + kk]);
                                }
                            }
                            let got = out[i * ldc + o * NR + j];
                            assert!(
                                (f64::from(got) - want).abs() < 1e-4 * (1.0 + want.abs()),
                                "{name} {m}x{n}x{k} ({i}, {q}): {got} vs {want}"
                            );
                            if kernel as usize == choose() as usize {
                                assert_eq!(got.to_bits(), via[i * ldc + o * NR + j].to_bits());
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn portable_kernel_matches_the_plain_sum() {
        check(tile_portable, "portable");
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_kernel_matches_or_says_skipped() {
        if !(std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma"))
        {
            eprintln!("skipped: this CPU has no AVX2+FMA");
            return;
        }
        check(tile_avx2, "avx2");
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx512_kernel_matches_or_says_skipped() {
        if !std::arch::is_x86_feature_detected!("avx512f") {
            eprintln!("skipped: this CPU has no AVX-512F");
            return;
        }
        check(tile_avx512, "avx512");
    }
}
