//! Matrix products on the f32 GEMM, and their gradients.

use ndarray::{ArrayD, IxDyn};

use super::Tensor;
use crate::error::{NnError, Result};
use crate::kernels::gemm::{sgemm, Mat};

/// One operand of [`batched_mm`]: row-major storage, read transposed or not, one matrix per
/// batch entry or one matrix shared by the whole batch.
#[derive(Clone, Copy)]
pub(crate) struct Operand<'a> {
    pub data: &'a [f32],
    pub transposed: bool,
    pub batched: bool,
}

impl<'a> Operand<'a> {
    pub fn new(data: &'a [f32], transposed: bool, batched: bool) -> Self {
        Operand {
            data,
            transposed,
            batched,
        }
    }
}

/// `c[batch][m x n] = op(a)[m x k] * op(b)[k x n]` over a batch.
pub(crate) fn batched_mm(
    batch: usize,
    (m, n, k): (usize, usize, usize),
    a: Operand<'_>,
    b: Operand<'_>,
) -> Vec<f32> {
    let (a_t, a_batched, b_t, b_batched) = (a.transposed, a.batched, b.transposed, b.batched);
    let (a, b) = (a.data, b.data);
    let mut c = vec![0.0f32; batch * m * n];
    for i in 0..batch {
        let ao = if a_batched { i * m * k } else { 0 };
        let bo = if b_batched { i * k * n } else { 0 };
        let am = if a_t {
            Mat::transposed(&a[ao..ao + m * k], m)
        } else {
            Mat::rows(&a[ao..ao + m * k], k)
        };
        let bm = if b_t {
            Mat::transposed(&b[bo..bo + k * n], k)
        } else {
            Mat::rows(&b[bo..bo + k * n], n)
        };
        sgemm(
            m,
            n,
            k,
            am,
            bm,
            (&mut c[i * m * n..(i + 1) * m * n], n),
            false,
        );
    }
    c
}

/// Sums a batch of `m x n` matrices.
fn sum_batches(v: &[f32], batch: usize, len: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; len];
    for i in 0..batch {
        for (o, x) in out.iter_mut().zip(&v[i * len..(i + 1) * len]) {
            *o += x;
        }
    }
    out
}

impl Tensor {
    /// Matrix product (`torch.matmul`): 1-D and 2-D operands as PyTorch, `(..., m, k) @ (k, n)`,
    /// and batched `(B..., m, k) @ (B..., k, n)` with equal batch dimensions.
    pub fn matmul(&self, other: &Tensor) -> Result<Tensor> {
        crate::trace::function(
            "operator.matmul",
            &[Some(self), Some(other)],
            crate::trace::no_args,
            || {
                let (sa, sb) = (self.shape(), other.shape());
                if sa.is_empty() || sb.is_empty() {
                    return Err(NnError::shapes(
                        "matmul",
                        &sa,
                        &sb,
                        "both arguments need at least 1 dimension",
                    ));
                }
                // Promote 1-D operands as PyTorch does, and remove the added dimension afterwards.
                let a = if sa.len() == 1 {
                    self.unsqueeze(0)?
                } else {
                    self.clone()
                };
                let b = if sb.len() == 1 {
                    other.unsqueeze(1)?
                } else {
                    other.clone()
                };
                let out = a.matmul_nd(&b)?;
                let out = if sb.len() == 1 {
                    out.squeeze_dim(out.ndim() - 1)?
                } else {
                    out
                };
                if sa.len() == 1 {
                    out.squeeze_dim(out.ndim() - if sb.len() == 1 { 1 } else { 2 })
                } else {
                    Ok(out)
                }
            },
        )
    }

    fn matmul_nd(&self, other: &Tensor) -> Result<Tensor> {
        let (ad, bd) = (self.data(), other.data());
        let (sa, sb) = (ad.shape().to_vec(), bd.shape().to_vec());
        let (m, k) = (sa[sa.len() - 2], sa[sa.len() - 1]);
        let (k2, n) = (sb[sb.len() - 2], sb[sb.len() - 1]);
        if k != k2 {
            return Err(NnError::shapes(
                "matmul",
                &sa,
                &sb,
                "inner dimensions differ",
            ));
        }
        let a_batch = &sa[..sa.len() - 2];
        let b_batch = &sb[..sb.len() - 2];
        let b_batched = !b_batch.is_empty();
        if b_batched && a_batch != b_batch {
            return Err(NnError::shapes(
                "matmul",
                &sa,
                &sb,
                "batch dimensions must be equal (or the second operand 2-D)",
            ));
        }
        let batch: usize = a_batch.iter().product();
        let a_slice = ad.as_slice().expect("tensors are contiguous");
        let b_slice = bd.as_slice().expect("tensors are contiguous");
        // A 2-D right operand: fold the batch into the rows for one large GEMM.
        let (gb, gm) = if b_batched {
            (batch, m)
        } else {
            (1, batch * m)
        };
        let c = batched_mm(
            gb,
            (gm, n, k),
            Operand::new(a_slice, false, true),
            Operand::new(b_slice, false, b_batched),
        );
        let mut shape = a_batch.to_vec();
        shape.extend([m, n]);
        let out = ArrayD::from_shape_vec(IxDyn(&shape), c).expect("product shape");
        Ok(Tensor::from_op(
            "matmul",
            &[self, other],
            out,
            move |g, need| {
                let gs = g.as_slice().expect("contiguous gradient");
                let a_slice = ad.as_slice().expect("contiguous");
                let b_slice = bd.as_slice().expect("contiguous");
                let ga = need[0].then(|| {
                    // dA = dC @ B^T
                    let v = batched_mm(
                        gb,
                        (gm, k, n),
                        Operand::new(gs, false, true),
                        Operand::new(b_slice, true, b_batched),
                    );
                    ArrayD::from_shape_vec(IxDyn(&sa), v).expect("shape")
                });
                let gbv = need[1].then(|| {
                    // dB = A^T @ dC
                    let v = batched_mm(
                        gb,
                        (k, n, gm),
                        Operand::new(a_slice, true, true),
                        Operand::new(gs, false, true),
                    );
                    let v = if b_batched {
                        v
                    } else {
                        sum_batches(&v, gb, k * n)
                    };
                    ArrayD::from_shape_vec(IxDyn(&sb), v).expect("shape")
                });
                vec![ga, gbv]
            },
        ))
    }
}
