//! Depthwise driver on a padded channels-last input (any stride): channels
//! in the vector lanes.

#[cfg(target_arch = "x86_64")]
use super::{avx2, avx512};
use super::{covers, scalar, DepthwiseWeight};
use crate::gemm::{epilogue_fn, Out, Tile, MR_MAX, TILE_LD};
use crate::isa::Isa;
use crate::output::Epilogue;
use qtensor::threads;

/// A padded channels-last input `[N, Dp, Hp, Wp, cp]`.
pub(crate) struct PaddedInput<'a> {
    pub data: &'a [u8],
    pub dims: [usize; 3],
    pub cp: usize,
}

/// Geometry of one depthwise run.
pub(crate) struct DwShape {
    pub batch: usize,
    pub out: [usize; 3],
    pub kernel: [usize; 3],
    pub stride: [usize; 3],
    pub dilation: [usize; 3],
}

type DwTileFn =
    unsafe fn(&[u8], usize, usize, usize, &[usize], &[i32], usize, usize, usize, &mut Tile);

#[allow(clippy::too_many_arguments)]
fn safe_scalar(
    xp: &[u8],
    base: usize,
    ps: usize,
    np: usize,
    taps: &[usize],
    w: &[i32],
    cp: usize,
    c0: usize,
    nch: usize,
    acc: &mut Tile,
) {
    scalar::tile(xp, base, ps, np, taps, w, cp, c0, nch, acc)
}

fn tile_fn(isa: Isa) -> DwTileFn {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512Vnni => avx512::tile,
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => avx2::tile,
        _ => safe_scalar,
    }
}

/// Runs the depthwise convolution into `out` (channels-last `[N, OD, OH, OW, C]` u8).
///
/// Panics (an internal invariant, checked before the unsafe kernels run) unless
/// `xp` is the padded input for `shape` (every tap of every output pixel
/// inside it), `out` holds `N * OD * OH * OW * C` bytes and `ep` has `C`
/// columns. Falls back to scalar if `isa` is unavailable.
pub(crate) fn run(
    isa: Isa,
    xp: &PaddedInput<'_>,
    w: &DepthwiseWeight,
    shape: &DwShape,
    ep: &Epilogue,
    out: &mut [u8],
) {
    let isa = if isa.is_available() { isa } else { Isa::Scalar };
    let [dp, hp, wp] = xp.dims;
    let cp = xp.cp;
    let c = w.c;
    let [od, oh, ow] = shape.out;
    assert_eq!(cp, w.cp, "depthwise channel padding");
    assert_eq!(
        xp.data.len(),
        shape.batch * dp * hp * wp * cp,
        "padded input size"
    );
    assert_eq!(
        out.len(),
        shape.batch * od * oh * ow * c,
        "depthwise output size"
    );
    assert_eq!(ep.col_corr.len(), c, "depthwise epilogue width");
    assert_eq!(
        w.taps,
        shape.kernel.iter().product::<usize>(),
        "depthwise taps"
    );
    for (i, &padded) in xp.dims.iter().enumerate() {
        let (o, k) = (shape.out[i], shape.kernel[i]);
        let inside = covers(o, k, shape.stride[i], shape.dilation[i], padded);
        assert!(inside, "taps inside the input");
    }
    let taps: Vec<usize> = {
        let mut t = Vec::with_capacity(w.taps);
        for z in 0..shape.kernel[0] {
            for y in 0..shape.kernel[1] {
                for x in 0..shape.kernel[2] {
                    let (dz, dy, dx) = (
                        z * shape.dilation[0],
                        y * shape.dilation[1],
                        x * shape.dilation[2],
                    );
                    t.push(((dz * hp + dy) * wp + dx) * cp);
                }
            }
        }
        t
    };
    let tile = tile_fn(isa);
    let epi = epilogue_fn(isa);
    let row_len = ow * c;
    if row_len == 0 {
        return;
    }
    let work = out.len() * w.taps;
    let row = |(r, dst): (usize, &mut [u8])| {
        let (n, z, y) = (r / (od * oh), (r / oh) % od, r % oh);
        let row_base = ((n * dp + z * shape.stride[0]) * hp + y * shape.stride[1]) * wp * cp;
        let pix_stride = shape.stride[2] * cp;
        let mut acc: Tile = [0; MR_MAX * TILE_LD];
        let mut x0 = 0;
        while x0 < ow {
            let np = MR_MAX.min(ow - x0);
            let base = row_base + x0 * pix_stride;
            let mut c0 = 0;
            while c0 < c {
                let nch = TILE_LD.min(c - c0);
                // SAFETY: the ISA is available and the padded input covers every
                // tap of these pixels (checked on entry); `dst` is this output
                // row, holding `ow * c` bytes.
                unsafe {
                    tile(
                        xp.data, base, pix_stride, np, &taps, &w.lanes, cp, c0, nch, &mut acc,
                    );
                    let view = ep.view(c0, nch);
                    let o = Out {
                        ptr: dst.as_mut_ptr().add(x0 * c + c0),
                        ldc: c,
                    };
                    epi(&acc, np, nch, &[0; MR_MAX][..np], &view, o);
                }
                c0 += nch;
            }
            x0 += np;
        }
    };
    if work < (1 << 18) {
        out.chunks_mut(row_len).enumerate().for_each(row);
    } else {
        threads::for_each_chunk_mut(out, row_len, |i, c| row((i, c)));
    }
}
