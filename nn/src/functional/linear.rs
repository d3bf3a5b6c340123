//! `F.linear` on the f32 GEMM, and its gradient.

use ndarray::{ArrayD, IxDyn};

use super::conv::slice;
use crate::error::{NnError, Result};
use crate::kernels::gemm::{sgemm, Mat};
use crate::kernels::small_gemm::gemm_nt_small;

/// Below this many rows the product is computed transposed (see [`linear`]).
const SMALL_BATCH: usize = 17;
use crate::tensor::Tensor;

/// `y = x @ weight^T + bias` (`F.linear`): input `(*, in)`, weight `(out, in)`, bias `(out)`.
pub fn linear(x: &Tensor, weight: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    crate::trace::function(
        "torch.nn.functional.linear",
        &[Some(x), Some(weight), bias],
        crate::trace::no_args,
        || {
            let (xs, ws) = (x.shape(), weight.shape());
            if ws.len() != 2 {
                return Err(NnError::bad_arg(
                    "linear",
                    format!("weight must be 2-D (out, in), got {ws:?}"),
                ));
            }
            let (out_f, in_f) = (ws[0], ws[1]);
            if xs.last() != Some(&in_f) {
                return Err(NnError::input_shape("linear", format!("(*, {in_f})"), &xs));
            }
            if let Some(b) = bias {
                if b.shape() != [out_f] {
                    return Err(NnError::shapes(
                        "linear",
                        &ws,
                        &b.shape(),
                        "bias must have shape (out_features)",
                    ));
                }
            }
            let m: usize = xs[..xs.len() - 1].iter().product();
            let (xd, wd) = (x.data(), weight.data());
            let bd = bias.map(Tensor::data);
            let mut y = vec![0.0f32; m * out_f];
            if let Some(bd) = &bd {
                for row in y.chunks_exact_mut(out_f.max(1)) {
                    row.copy_from_slice(slice(bd));
                }
            }
            if m < SMALL_BATCH {
                // Few rows: dot every weight row with all rows while it is in cache, instead of
                // repacking the whole weight on every call.
                gemm_nt_small(m, out_f, in_f, slice(&xd), slice(&wd), &mut y, bd.is_some());
            } else {
                sgemm(
                    m,
                    out_f,
                    in_f,
                    Mat::rows(slice(&xd), in_f),
                    Mat::transposed(slice(&wd), in_f),
                    (&mut y, out_f),
                    bd.is_some(),
                );
            }
            let mut out_shape = xs.clone();
            *out_shape.last_mut().expect("checked non-empty") = out_f;
            let out = ArrayD::from_shape_vec(IxDyn(&out_shape), y).expect("shape");
            let inputs: Vec<&Tensor> = match bias {
                Some(b) => vec![x, weight, b],
                None => vec![x, weight],
            };
            Ok(Tensor::from_op("linear", &inputs, out, move |g, need| {
                let gs = slice(g);
                let gx = need[0].then(|| {
                    // dX (m x in) = dY (m x out) @ W (out x in)
                    let mut v = vec![0.0f32; m * in_f];
                    sgemm(
                        m,
                        in_f,
                        out_f,
                        Mat::rows(gs, out_f),
                        Mat::rows(slice(&wd), in_f),
                        (&mut v, in_f),
                        false,
                    );
                    ArrayD::from_shape_vec(IxDyn(&xs), v).expect("shape")
                });
                let gw = need[1].then(|| {
                    // dW (out x in) = dY^T (out x m) @ X (m x in)
                    let mut v = vec![0.0f32; out_f * in_f];
                    sgemm(
                        out_f,
                        in_f,
                        m,
                        Mat::transposed(gs, out_f),
                        Mat::rows(slice(&xd), in_f),
                        (&mut v, in_f),
                        false,
                    );
                    ArrayD::from_shape_vec(IxDyn(&[out_f, in_f]), v).expect("shape")
                });
                let mut grads = vec![gx, gw];
                if need.len() == 3 {
                    grads.push(need[2].then(|| {
                        let mut v = vec![0.0f32; out_f];
                        for row in gs.chunks_exact(out_f.max(1)) {
                            for (a, b) in v.iter_mut().zip(row) {
                                *a += b;
                            }
                        }
                        ArrayD::from_shape_vec(IxDyn(&[out_f]), v).expect("shape")
                    }));
                }
                grads
            }))
        },
    )
}
