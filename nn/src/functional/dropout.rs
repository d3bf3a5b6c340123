//! `F.dropout`.

use ndarray::{ArrayD, IxDyn};

use crate::error::{NnError, Result};
use crate::tensor::Tensor;

/// `F.dropout(x, p, training)`: in training, zeroes each element with probability `p` (from the
/// crate's seeded generator) and scales the rest by `1 / (1 - p)`; otherwise the identity.
pub fn dropout(x: &Tensor, p: f32, training: bool) -> Result<Tensor> {
    crate::trace::function(
        "torch.nn.functional.dropout",
        &[Some(x)],
        || vec![("p", p.into()), ("training", training.into())],
        || {
            if !(0.0..=1.0).contains(&p) {
                return Err(NnError::bad_arg(
                    "dropout",
                    format!("probability has to be between 0 and 1, but got {p}"),
                ));
            }
            if !training || p == 0.0 {
                return Ok(x.clone());
            }
            let shape = x.shape();
            let n = x.len();
            let scale = if p < 1.0 { 1.0 / (1.0 - p) } else { 0.0 };
            let mask: Vec<f32> = crate::rng::with_rng(|r| {
                (0..n)
                    .map(|_| if r.next_f32() < p { 0.0 } else { scale })
                    .collect()
            });
            let mask = Tensor::new(ArrayD::from_shape_vec(IxDyn(&shape), mask).expect("shape"));
            x.mul(&mask)
        },
    )
}
