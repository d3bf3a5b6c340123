//! `quantized::cat` of contiguous inputs with different quantization
//! parameters into given output parameters.

use crate::op_error::OpError;
use crate::quant::{dequantize_plain, inv_scale_f32, quantize_f32, Affine, QInt};

/// One operand of [`cat`]: row-major data, its shape and its parameters.
#[derive(Clone, Copy, Debug)]
pub struct CatInput<'a, T> {
    /// Quantized values, row-major.
    pub data: &'a [T],
    /// Shape; all inputs agree except along the concatenation dimension.
    pub shape: &'a [usize],
    /// Quantization parameters of `data`.
    pub q: Affine,
}

/// Result of [`cat`]: row-major data and its shape.
#[derive(Clone, Debug, PartialEq)]
pub struct Concatenated<T> {
    /// Quantized values in the output parameters.
    pub data: Vec<T>,
    /// Output shape.
    pub shape: Vec<usize>,
}

fn numel(shape: &[usize]) -> Result<usize, OpError> {
    shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| OpError::Overflow(format!("{shape:?}")))
}

fn check_inputs<T: QInt>(inputs: &[CatInput<T>], dim: usize) -> Result<Vec<usize>, OpError> {
    let first = inputs
        .first()
        .ok_or_else(|| OpError::ShapeMismatch("cat needs at least one input".into()))?;
    let rank = first.shape.len();
    if dim >= rank {
        return Err(OpError::ShapeMismatch(format!(
            "cat dim {dim} out of range for rank {rank}"
        )));
    }
    let mut out_shape = first.shape.to_vec();
    out_shape[dim] = 0;
    for (i, input) in inputs.iter().enumerate() {
        input.q.validate::<T>("cat input")?;
        if input.shape.len() != rank
            || input
                .shape
                .iter()
                .zip(first.shape)
                .enumerate()
                .any(|(d, (a, b))| d != dim && a != b)
        {
            return Err(OpError::ShapeMismatch(format!(
                "cat input {i} has shape {:?}, incompatible with {:?} along dim {dim}",
                input.shape, first.shape
            )));
        }
        let expected = numel(input.shape)?;
        if input.data.len() != expected {
            return Err(OpError::LengthMismatch {
                what: "cat input",
                expected,
                actual: input.data.len(),
            });
        }
        out_shape[dim] = out_shape[dim]
            .checked_add(input.shape[dim])
            .ok_or_else(|| OpError::Overflow(format!("cat along dim {dim}")))?;
    }
    numel(&out_shape)?;
    Ok(out_shape)
}

/// `quantized::cat(xs, dim, scale, zero_point)` on contiguous tensors: each
/// input is dequantized (`scale * (q - zp)`), the results are concatenated
/// along `dim` and quantized with `out_q` the way `quantize_per_tensor` does
/// (`zp + round_half_even(x * (1.0f / scale))`; the `quantize_per_tensor`
/// fixtures, which contain exact ties, rule out the variant that adds the
/// zero point before rounding). Inputs whose parameters equal `out_q` are
/// copied, which gives the same values.
///
/// Errors: no inputs, `dim` out of range, mismatched ranks or sizes, data
/// lengths that do not match shapes, invalid quantization parameters.
pub fn cat<T: QInt>(
    inputs: &[CatInput<T>],
    dim: usize,
    out_q: Affine,
) -> Result<Concatenated<T>, OpError> {
    out_q.validate::<T>("output")?;
    let shape = check_inputs(inputs, dim)?;
    let outer: usize = shape[..dim].iter().product();
    let inv = inv_scale_f32(out_q.scale);
    let mut data = Vec::with_capacity(numel(&shape)?);
    for o in 0..outer {
        for input in inputs {
            let chunk = numel(&input.shape[dim..])?;
            let src = &input.data[o * chunk..(o + 1) * chunk];
            if input.q == out_q {
                data.extend_from_slice(src);
            } else {
                let (s, z) = (input.q.scale_f32(), input.q.zero_point);
                data.extend(src.iter().map(|&v| {
                    quantize_f32::<T>(dequantize_plain(v.to_i32(), s, z), inv, out_q.zero_point)
                }));
            }
        }
    }
    Ok(Concatenated { data, shape })
}
