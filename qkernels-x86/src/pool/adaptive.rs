//! `adaptive_avg_pool2d` on quantized NCHW data.

use super::kernels;
use crate::isa::Isa;
use crate::nchw::Nchw;
use crate::op_error::OpError;
use crate::quant::{cvt_round_f32, QInt, QView};

/// `[start, end)` of output index `o` (`start_index` / `end_index`, computed
/// in `f32` as PyTorch does).
fn window(o: usize, out: usize, input: usize) -> (usize, usize) {
    let start = ((o * input) as f32 / out as f32).floor() as usize;
    let end = (((o + 1) * input) as f32 / out as f32).ceil() as usize;
    (start, end.min(input))
}

pub(crate) fn adaptive_avg_pool2d_with_isa<T: QInt>(
    isa: Isa,
    x: QView<T>,
    shape: Nchw,
    output_size: [usize; 2],
) -> Result<(Nchw, Vec<T>), OpError> {
    x.q.validate::<T>("x")?;
    shape.check_len("x", x.data.len())?;
    if shape.c == 0 || shape.h == 0 || shape.w == 0 {
        return Err(OpError::ShapeMismatch(format!(
            "adaptive_avg_pool2d: input dimensions must be non-zero, got {:?}",
            shape.dims()
        )));
    }
    let [oh, ow] = output_size;
    if oh == 0 || ow == 0 {
        return Err(OpError::EmptyOutput(format!(
            "adaptive_avg_pool2d: output_size {output_size:?}"
        )));
    }
    let out_shape = Nchw::new(shape.n, shape.c, oh, ow);
    let mut out = vec![T::default(); out_shape.numel()?];
    let rows: Vec<_> = (0..oh).map(|o| window(o, oh, shape.h)).collect();
    let cols: Vec<_> = (0..ow).map(|o| window(o, ow, shape.w)).collect();
    let mut hsum = vec![0i64; shape.h * ow];
    for (src, dst) in x
        .data
        .chunks_exact(shape.h * shape.w)
        .zip(out.chunks_exact_mut(oh * ow))
    {
        for (row, hrow) in src.chunks_exact(shape.w).zip(hsum.chunks_exact_mut(ow)) {
            for (h, &(ws, we)) in hrow.iter_mut().zip(&cols) {
                *h = kernels::sum(isa, &row[ws..we]);
            }
        }
        for (orow, &(hs, he)) in dst.chunks_exact_mut(ow).zip(&rows) {
            // kDHr = (1.0f / kD) / kH with kD = 1; kDHWr = kDHr / kW, in f32.
            let k_h = 1.0f32 / (he - hs) as f32;
            for (j, (o, &(ws, we))) in orow.iter_mut().zip(&cols).enumerate() {
                let total: i64 = (hs..he).map(|iy| hsum[iy * ow + j]).sum();
                let k = k_h / (we - ws) as f32;
                *o = T::from_i32_sat(cvt_round_f32(total as f32 * k));
            }
        }
    }
    Ok((out_shape, out))
}

/// `adaptive_avg_pool2d(x, output_size)` on quantized NCHW data
/// (`adaptive_avg_pool_single_out_frame`): window bounds
/// `floor(o * in / out)` .. `ceil((o + 1) * in / out)` in `f32`, the integer
/// window sum times `(1 / kh) / kw` in `f32`, rounded half to even. The
/// output keeps the input's quantization parameters; its shape is returned.
///
/// Errors: data length vs shape, zero channel/height/width, zero output size.
pub fn adaptive_avg_pool2d<T: QInt>(
    x: QView<T>,
    shape: Nchw,
    output_size: [usize; 2],
) -> Result<(Nchw, Vec<T>), OpError> {
    adaptive_avg_pool2d_with_isa(crate::isa::active_isa(), x, shape, output_size)
}
