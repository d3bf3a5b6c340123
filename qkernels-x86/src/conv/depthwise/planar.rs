//! Depthwise driver on NCDHW planes (stride 1 or 2 along W): output columns
//! in the vector lanes, no layout change.

#[cfg(target_arch = "x86_64")]
use super::{avx2, avx512};
use super::{covers, scalar, DepthwiseWeight};
use crate::gemm::{epilogue_fn, Out, Tile, MR_MAX, TILE_LD};
use crate::isa::Isa;
use crate::output::Epilogue;
use qtensor::threads;

type PlaneTileFn = unsafe fn(&[u8], usize, usize, usize, usize, usize, &[usize], &[i32], &mut Tile);

#[allow(clippy::too_many_arguments)]
fn safe_plane_scalar(
    plane: &[u8],
    base: usize,
    row_stride: usize,
    sw: usize,
    rows: usize,
    cols: usize,
    taps: &[usize],
    w: &[i32],
    acc: &mut Tile,
) {
    scalar::plane_tile(plane, base, row_stride, sw, rows, cols, taps, w, acc)
}

fn plane_fn(isa: Isa) -> PlaneTileFn {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512Vnni => avx512::plane_tile,
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => avx2::plane_tile,
        _ => safe_plane_scalar,
    }
}

/// Bytes readable past the end of a padded plane (SIMD tiles read whole vectors).
const PLANE_SLACK: usize = 192;

/// Geometry of a planar (NCDHW) depthwise run; `stride[2]` must be 1 or 2.
pub(crate) struct PlanarShape {
    pub batch: usize,
    pub input: [usize; 3],
    pub out: [usize; 3],
    pub kernel: [usize; 3],
    pub stride: [usize; 3],
    pub padding: [usize; 3],
    pub dilation: [usize; 3],
    pub a_zp: u8,
}

/// Depthwise convolution directly on NCDHW planes (no layout change): each
/// (image, channel) plane is padded with the zero point and convolved with
/// output columns in the vector lanes.
///
/// Panics (an internal invariant, checked before the unsafe kernels run) unless
/// `x` holds `N * C * D * H * W` bytes, `out` `N * C * OD * OH * OW` bytes,
/// every tap of every output lies in the padded input, `stride[2]` is 1 or 2
/// and `ep` has `C` columns. Falls back to scalar if `isa` is unavailable.
pub(crate) fn run_planar(
    isa: Isa,
    x: &[u8],
    w: &DepthwiseWeight,
    shape: &PlanarShape,
    ep: &Epilogue,
    out: &mut [u8],
) {
    let isa = if isa.is_available() { isa } else { Isa::Scalar };
    let c = w.c;
    let [id, ih, iw] = shape.input;
    let [od, oh, ow] = shape.out;
    let [pd, ph, pw] = shape.padding;
    let dims = [id + 2 * pd, ih + 2 * ph, iw + 2 * pw];
    assert_eq!(
        x.len(),
        shape.batch * c * id * ih * iw,
        "depthwise input size"
    );
    assert_eq!(
        out.len(),
        shape.batch * c * od * oh * ow,
        "depthwise output size"
    );
    assert!(
        matches!(shape.stride[2], 1 | 2),
        "planar depthwise needs stride_w 1 or 2"
    );
    assert_eq!(ep.col_corr.len(), c, "depthwise epilogue width");
    assert_eq!(
        w.taps,
        shape.kernel.iter().product::<usize>(),
        "depthwise taps"
    );
    for (i, &padded) in dims.iter().enumerate() {
        let (o, k) = (shape.out[i], shape.kernel[i]);
        let inside = covers(o, k, shape.stride[i], shape.dilation[i], padded);
        assert!(inside, "taps inside the input");
    }
    let plane_len = dims[0] * dims[1] * dims[2];
    let taps: Vec<usize> = {
        let mut t = Vec::with_capacity(w.taps);
        for z in 0..shape.kernel[0] {
            for y in 0..shape.kernel[1] {
                for xx in 0..shape.kernel[2] {
                    let (dz, dy, dx) = (
                        z * shape.dilation[0],
                        y * shape.dilation[1],
                        xx * shape.dilation[2],
                    );
                    t.push((dz * dims[1] + dy) * dims[2] + dx);
                }
            }
        }
        t
    };
    let tile = plane_fn(isa);
    let epi = epilogue_fn(isa);
    let in_plane = id * ih * iw;
    let out_plane = od * oh * ow;
    if out_plane == 0 || shape.batch == 0 {
        return;
    }
    let [sd, sh, sw] = shape.stride;
    let task = |(idx, dst): (usize, &mut [u8])| {
        let ch = idx % c;
        let src = &x[idx * in_plane..(idx + 1) * in_plane];
        let mut padded = vec![shape.a_zp; plane_len + PLANE_SLACK];
        for z in 0..id {
            for y in 0..ih {
                let at = ((z + pd) * dims[1] + y + ph) * dims[2] + pw;
                padded[at..at + iw].copy_from_slice(&src[(z * ih + y) * iw..(z * ih + y + 1) * iw]);
            }
        }
        let wv: Vec<i32> = (0..w.taps)
            .map(|t| scalar::lane_value(w.lanes[t * w.cp + ch]))
            .collect();
        let cep = ep.broadcast_column(ch, TILE_LD);
        let mut acc: Tile = [0; MR_MAX * TILE_LD];
        for z in 0..od {
            let mut y0 = 0;
            while y0 < oh {
                let rows = MR_MAX.min(oh - y0);
                let mut x0 = 0;
                while x0 < ow {
                    let cols = TILE_LD.min(ow - x0);
                    let base = ((z * sd) * dims[1] + y0 * sh) * dims[2] + x0 * sw;
                    // SAFETY: the ISA is available; every tap of these output
                    // pixels lies inside the padded plane (checked on entry) and
                    // SIMD over-reads stay within PLANE_SLACK; `dst` is this
                    // output plane of od * oh * ow bytes.
                    unsafe {
                        tile(
                            &padded,
                            base,
                            sh * dims[2],
                            sw,
                            rows,
                            cols,
                            &taps,
                            &wv,
                            &mut acc,
                        );
                        let view = cep.view(0, cols);
                        let o = Out {
                            ptr: dst.as_mut_ptr().add((z * oh + y0) * ow + x0),
                            ldc: ow,
                        };
                        epi(&acc, rows, cols, &[0; MR_MAX][..rows], &view, o);
                    }
                    x0 += cols;
                }
                y0 += rows;
            }
        }
    };
    let work = out.len() * w.taps;
    if work < (1 << 18) {
        out.chunks_mut(out_plane).enumerate().for_each(task);
    } else {
        threads::for_each_chunk_mut(out, out_plane, |i, c| task((i, c)));
    }
}
