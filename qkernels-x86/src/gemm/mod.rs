//! u8 x s8 -> s32 GEMM with a fused output pipeline, one file per ISA.
//!
//! `C[M, N] = A[M, K] * W[N, K]^T` where `A` is u8 (activations, row-major)
//! and `W` is the int8 weight in PyTorch's Linear layout, packed once into a
//! [`PackedWeight`]. Activations are packed per call (K padded to 4, row sums
//! computed on the way); the weight panels are [`pack::NR`] columns wide.
//! The micro-kernels compute tiles of `MR` rows x 64 columns (VNNI: 6 x 64,
//! 24 zmm accumulators); K is processed in blocks of `KC` bytes so a panel's
//! K slice stays in L2 while every row tile of a row block (about 96 KiB of
//! packed activations) uses it.
//! Work is split into (row block, panel range) tasks run on the workspace's
//! thread pool; every output element is computed by the same instruction
//! sequence whatever the split, so results do not depend on the thread count.

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2;
pub mod pack;
pub(crate) mod scalar;
#[cfg(target_arch = "x86_64")]
pub(crate) mod vnni;

use crate::error::{KernelError, Result};
use crate::isa::Isa;
use crate::output::{EpView, Epilogue};
pub use pack::PackedWeight;
use pack::NR;
use qtensor::threads;

/// K block (bytes of K per pass over a panel slice); a multiple of 4.
pub(crate) const KC: usize = 2048;
/// Largest tile height of any ISA.
pub(crate) const MR_MAX: usize = 8;
/// Row stride of an accumulator tile.
pub(crate) const TILE_LD: usize = NR;
/// An accumulator tile: `MR_MAX` rows of `NR` i32.
pub(crate) type Tile = [i32; MR_MAX * TILE_LD];

/// Where a tile's results go: element `(0, 0)` of the tile and the row stride
/// (in elements). The element type (u8, i32 or f32) follows the epilogue stage.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Out {
    pub ptr: *mut u8,
    pub ldc: usize,
}

impl Out {
    /// The tile origin moved by `rows` rows and `cols` columns of `elem` bytes.
    ///
    /// # Safety
    /// The moved pointer must stay inside the output buffer.
    unsafe fn offset(self, rows: usize, cols: usize, elem: usize) -> Out {
        // SAFETY: in bounds by this function's contract.
        let ptr = unsafe { self.ptr.add((rows * self.ldc + cols) * elem) };
        Out { ptr, ldc: self.ldc }
    }
}

/// Where the GEMM writes: a row-major matrix, or (u8 requantized outputs only)
/// NC(S) planes: element `(pixel, col)` at `ptr + ((pixel / s) * planes + col) * s + pixel % s`.
#[derive(Debug, Clone, Copy)]
enum Target {
    /// Row-major `rows x n` at `Out`.
    Rows(Out),
    /// Channel planes of `s` pixels; `planes` channels per image.
    Planar {
        ptr: *mut u8,
        planes: usize,
        s: usize,
    },
}

/// A shareable raw output target: tasks write disjoint tiles.
#[derive(Clone, Copy)]
struct SharedOut(Target);
// SAFETY: every task writes a disjoint set of (row, column) elements, so
// sharing the base pointer across threads creates no data race.
unsafe impl Send for SharedOut {}
// SAFETY: as above.
unsafe impl Sync for SharedOut {}

/// A source of activation rows: a dense matrix, or an im2col view of an image.
pub(crate) trait ASource: Sync {
    /// Number of rows (`M`).
    fn rows(&self) -> usize;
    /// Writes rows `r0..r0 + rows` into `dst` (row stride `kp`, zero padded past `K`)
    /// and, when `sums` is given, their sums (over the `K` real values).
    fn pack_rows(
        &self,
        r0: usize,
        rows: usize,
        kp: usize,
        dst: &mut [u8],
        sums: Option<&mut [i32]>,
    );
}

/// A dense row-major u8 matrix `[rows, k]`.
pub(crate) struct DenseA<'a> {
    pub data: &'a [u8],
    pub rows: usize,
    pub k: usize,
}

impl ASource for DenseA<'_> {
    fn rows(&self) -> usize {
        self.rows
    }
    fn pack_rows(
        &self,
        r0: usize,
        rows: usize,
        kp: usize,
        dst: &mut [u8],
        mut sums: Option<&mut [i32]>,
    ) {
        for r in 0..rows {
            let src = &self.data[(r0 + r) * self.k..(r0 + r + 1) * self.k];
            let d = &mut dst[r * kp..(r + 1) * kp];
            d[..self.k].copy_from_slice(src);
            d[self.k..].fill(0);
            if let Some(s) = sums.as_deref_mut() {
                s[r] = row_sum(src);
            }
        }
    }
}

/// Sum of a row of u8 values (wrapping i32, like fbgemm's row offsets).
pub(crate) fn row_sum(row: &[u8]) -> i32 {
    let mut s = 0u32;
    for chunk in row.chunks(1 << 16) {
        let part: u32 = chunk.iter().map(|&v| v as u32).sum();
        s = s.wrapping_add(part);
    }
    s as i32
}

/// Shape of one tile call: `mr` rows of A with row stride `lda`, `klen` bytes
/// of K (a multiple of 4), a panel of `width` columns; `init` adds to the
/// accumulators already in the tile instead of starting from zero.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TileArgs {
    pub lda: usize,
    pub klen: usize,
    pub mr: usize,
    pub width: usize,
    pub init: bool,
}

type TileFn = unsafe fn(&[u8], &[i8], TileArgs, &mut Tile);
pub(crate) type EpilogueFn = unsafe fn(&Tile, usize, usize, &[i32], &EpView<'_>, Out);

/// The kernels of one ISA.
#[derive(Clone, Copy)]
struct Kernels {
    mr: usize,
    tile: TileFn,
    epilogue: EpilogueFn,
}

fn safe_scalar_tile(a: &[u8], p: &[i8], args: TileArgs, acc: &mut Tile) {
    scalar::tile(a, p, args, acc)
}

fn kernels(isa: Isa) -> Kernels {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512Vnni => Kernels {
            mr: vnni::MR,
            tile: vnni::tile,
            epilogue: vnni::epilogue,
        },
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => Kernels {
            mr: avx2::MR,
            tile: avx2::tile,
            epilogue: avx2::epilogue,
        },
        _ => Kernels {
            mr: scalar::MR,
            tile: safe_scalar_tile,
            epilogue: scalar::epilogue,
        },
    }
}

/// The epilogue of `isa` (for kernels that produce their own tiles).
pub(crate) fn epilogue_fn(isa: Isa) -> EpilogueFn {
    kernels(isa).epilogue
}

/// Errors unless this CPU can run `isa`.
pub(crate) fn check_isa(isa: Isa) -> Result<()> {
    if isa.is_available() {
        Ok(())
    } else {
        Err(KernelError::IsaUnavailable(isa))
    }
}

/// Element size of the epilogue's output type.
fn elem_size(ep: &Epilogue) -> usize {
    match ep.stage {
        crate::output::Stage::Requant { .. } => 1,
        _ => 4,
    }
}

/// Runs `C = A * W^T` through `ep`, writing `A.rows() x W.n()` elements to
/// `out` (see [`Target`]).
///
/// # Safety
/// `isa` must be available; `out` must be valid for writes of every element
/// of the `rows x n` result in the stage's element type (u8 for `Planar`),
/// and `ep` must have `w.n()` columns.
unsafe fn gemm(isa: Isa, a: &dyn ASource, w: &PackedWeight, ep: &Epilogue, out: Target) {
    let m = a.rows();
    let n = w.n();
    if m == 0 || n == 0 {
        return;
    }
    let kern = kernels(isa);
    let kp = w.padded_k();
    let elem = elem_size(ep);
    let panels = w.panels();
    // Row block: a multiple of the tile height, about 64 KiB..192 KiB of packed A.
    let mb_target = (96 * 1024 / kp.clamp(1, KC)).clamp(kern.mr, 192);
    let mb = (mb_target / kern.mr).max(1) * kern.mr;
    // Blocks of (nearly) equal height: threads take contiguous runs of them.
    let row_blocks = m.div_ceil(mb);
    let mb = m.div_ceil(row_blocks).next_multiple_of(kern.mr);
    let row_blocks = m.div_ceil(mb);
    let work = (m as u128) * (n as u128) * (kp as u128);
    // Small products stay on the calling thread: handing them out costs more than the work
    // (results do not depend on the thread count either way).
    let nt = if work < (1 << 19) {
        1
    } else {
        threads::num_threads()
    };
    // Enough tasks to balance the threads, but panels stay in large chunks.
    let want = 4 * nt;
    let chunks = if nt == 1 || row_blocks >= want {
        1
    } else {
        want.div_ceil(row_blocks).min(panels)
    };
    let per_chunk = panels.div_ceil(chunks);
    let chunks = panels.div_ceil(per_chunk);
    let tasks = row_blocks * chunks;
    let shared = SharedOut(out);
    let task = |t: usize| {
        let (rb, ch) = (t / chunks, t % chunks);
        let r0 = rb * mb;
        let rows = mb.min(m - r0);
        let p0 = ch * per_chunk;
        let p1 = (p0 + per_chunk).min(panels);
        let out = shared;
        // SAFETY: forwarded from this function's contract; tasks cover
        // disjoint (row block, panel range) rectangles.
        unsafe { run_task(kern, a, w, ep, out.0, elem, r0, rows, p0..p1) };
    };
    if nt == 1 {
        (0..tasks).for_each(task);
    } else {
        threads::parallel_for_runs(tasks, &task);
    }
}

/// Runs the GEMM into a freshly allocated row-major `rows x n` output
/// (`T` must be the stage's element type: u8 requant, i32 raw, f32 float).
/// Falls back to the scalar path if `isa` is not available.
pub(crate) fn gemm_to_vec<T: Copy + Default>(
    isa: Isa,
    a: &dyn ASource,
    w: &PackedWeight,
    ep: &Epilogue,
) -> Vec<T> {
    let isa = if isa.is_available() { isa } else { Isa::Scalar };
    assert_eq!(
        std::mem::size_of::<T>(),
        elem_size(ep),
        "output type must match the epilogue"
    );
    assert_eq!(
        ep.col_corr.len(),
        w.n(),
        "epilogue width must match the weight"
    );
    let mut out = vec![T::default(); a.rows() * w.n()];
    let dst = Out {
        ptr: out.as_mut_ptr().cast::<u8>(),
        ldc: w.n(),
    };
    // SAFETY: the ISA is available; `out` holds rows x n elements of the
    // stage's type with stride n; the epilogue has n columns (checked above).
    unsafe { gemm(isa, a, w, ep, Target::Rows(dst)) };
    out
}

/// Runs a requantizing GEMM whose output goes to NC(S) planes: `out` holds
/// `images * planes * s` bytes (`images * s == a.rows()`) and this GEMM's
/// columns are planes `col0..col0 + n`. Falls back to scalar if `isa` is
/// unavailable; panics on inconsistent sizes (an internal invariant).
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_planar(
    isa: Isa,
    a: &dyn ASource,
    w: &PackedWeight,
    ep: &Epilogue,
    out: &mut [u8],
    col0: usize,
    planes: usize,
    s: usize,
) {
    let isa = if isa.is_available() { isa } else { Isa::Scalar };
    assert_eq!(
        elem_size(ep),
        1,
        "planar output needs the requantizing epilogue"
    );
    assert_eq!(
        ep.col_corr.len(),
        w.n(),
        "epilogue width must match the weight"
    );
    assert!(
        s > 0 && a.rows().is_multiple_of(s),
        "rows must be whole images"
    );
    assert_eq!(a.rows() * planes, out.len(), "planar output size");
    assert!(col0 + w.n() <= planes, "columns must be inside the planes");
    if out.is_empty() || w.n() == 0 {
        return;
    }
    // SAFETY: col0 < planes, so col0 * s < images * planes * s = out.len().
    let ptr = unsafe { out.as_mut_ptr().add(col0 * s) };
    // SAFETY: the ISA is available; every (pixel, column) maps to
    // ((pixel / s) * planes + col0 + column) * s + pixel % s < out.len().
    unsafe { gemm(isa, a, w, ep, Target::Planar { ptr, planes, s }) };
}

/// Computes rows `r0..r0 + rows` for panels `panels`.
///
/// # Safety
/// As [`gemm`].
#[allow(clippy::too_many_arguments)]
unsafe fn run_task(
    kern: Kernels,
    a: &dyn ASource,
    w: &PackedWeight,
    ep: &Epilogue,
    out: Target,
    elem: usize,
    r0: usize,
    rows: usize,
    panels: std::ops::Range<usize>,
) {
    let kp = w.padded_k();
    let mut apack = vec![0u8; rows * kp];
    let mut sums = vec![0i32; rows];
    let need_sums = ep.needs_row_sums;
    a.pack_rows(r0, rows, kp, &mut apack, need_sums.then_some(&mut sums[..]));
    // K is cut into blocks of KC so that a panel's K slice stays in L2 while
    // every row tile of the block uses it; tiles keep their partial sums.
    let kblocks = kp.div_ceil(KC).max(1);
    let ntiles = if kblocks > 1 {
        rows.div_ceil(kern.mr)
    } else {
        1
    };
    let mut accs: Vec<Tile> = vec![[0; MR_MAX * TILE_LD]; ntiles];
    // Planar targets: the task's u8 results for one panel, row-major, then scattered.
    let mut block = match out {
        Target::Planar { .. } => vec![0u8; rows * NR],
        Target::Rows(_) => Vec::new(),
    };
    for p in panels {
        let (panel, width) = w.panel(p);
        let view = ep.view(p * NR, width);
        for kb in 0..kblocks {
            let k0 = kb * KC;
            let klen = KC.min(kp - k0);
            let slice = &panel[k0 * width..(k0 + klen) * width];
            let mut r = 0;
            while r < rows {
                let mr = kern.mr.min(rows - r);
                let acc = &mut accs[if kblocks > 1 { r / kern.mr } else { 0 }];
                let a_tile = &apack[r * kp + k0..(r + mr - 1) * kp + k0 + klen];
                let args = TileArgs {
                    lda: kp,
                    klen,
                    mr,
                    width,
                    init: kb > 0,
                };
                // SAFETY: the ISA is available (caller's contract); slices are in bounds.
                unsafe { (kern.tile)(a_tile, slice, args, acc) };
                if kb + 1 == kblocks {
                    let dst = match out {
                        // SAFETY: rows r0+r.. and columns p*NR.. lie inside the output (caller's contract).
                        Target::Rows(o) => unsafe { o.offset(r0 + r, p * NR, elem) },
                        Target::Planar { .. } => Out {
                            ptr: block[r * NR..].as_mut_ptr(),
                            ldc: NR,
                        },
                    };
                    // SAFETY: `dst` addresses rows r..r+mr and `width` columns of the
                    // caller's output or of `block` (rows x NR bytes).
                    unsafe { (kern.epilogue)(acc, mr, width, &sums[r..r + mr], &view, dst) };
                }
                r += mr;
            }
        }
        if let Target::Planar { ptr, planes, s } = out {
            // SAFETY: the caller's output holds every (pixel, column) element of
            // the planar layout; this task owns pixels r0..r0+rows, columns of panel p.
            unsafe { scatter_planar(&block, NR, rows, width, r0, p * NR, ptr, planes, s) };
        }
    }
}

/// Writes a row-major `rows x width` u8 block (row stride `ls`) holding pixels
/// `pix0..` and columns `col0..` into NC(S) planes.
///
/// # Safety
/// Every destination `ptr + ((pix / s) * planes + col) * s + pix % s` must be
/// valid for writes and not written concurrently.
#[allow(clippy::too_many_arguments)]
unsafe fn scatter_planar(
    block: &[u8],
    ls: usize,
    rows: usize,
    width: usize,
    pix0: usize,
    col0: usize,
    ptr: *mut u8,
    planes: usize,
    s: usize,
) {
    let mut r = 0;
    while r < rows {
        let pix = pix0 + r;
        let (n, p) = (pix / s, pix % s);
        let run = (s - p).min(rows - r);
        // SAFETY: the destination rows of this run lie inside the caller's output.
        unsafe {
            let base = ptr.add((n * planes + col0) * s + p);
            crate::conv::transpose_to_ptr(&block[r * ls..], ls, base, s, run, width);
        }
        r += run;
    }
}
