//! `nn.Linear`.

use crate::error::{NnError, Result};
use crate::functional;
use crate::layers::training_flag;
use crate::module::{Module, Value};
use crate::tensor::Tensor;

/// `y = x @ weight^T + bias` (`nn.Linear`); parameters `weight (out, in)` and `bias (out)`.
pub struct Linear {
    /// `(out_features, in_features)`.
    pub weight: Tensor,
    /// `(out_features)`, if the layer has a bias.
    pub bias: Option<Tensor>,
    training: bool,
}

/// PyTorch's default init: `kaiming_uniform_(a=sqrt(5))` for the weight, i.e. uniform in
/// `±1/sqrt(fan_in)`, and the same bound for the bias.
pub(crate) fn default_init(shape: &[usize], fan_in: usize) -> Tensor {
    let bound = if fan_in > 0 {
        1.0 / (fan_in as f32).sqrt()
    } else {
        0.0
    };
    let t = Tensor::rand_uniform(shape, -bound, bound);
    Tensor::parameter(t.to_array())
}

impl Linear {
    /// A layer with PyTorch's default initialisation.
    pub fn new(in_features: usize, out_features: usize, bias: bool) -> Linear {
        Linear {
            weight: default_init(&[out_features, in_features], in_features),
            bias: bias.then(|| default_init(&[out_features], in_features)),
            training: true,
        }
    }

    /// A layer around existing parameters (e.g. fused or loaded ones); shapes are checked.
    pub fn from_parts(weight: Tensor, bias: Option<Tensor>) -> Result<Linear> {
        let ws = weight.shape();
        if ws.len() != 2 {
            return Err(NnError::bad_arg(
                "Linear",
                format!("weight must be 2-D (out, in), got {ws:?}"),
            ));
        }
        if let Some(b) = &bias {
            if b.shape() != [ws[0]] {
                return Err(NnError::shapes(
                    "Linear",
                    &ws,
                    &b.shape(),
                    "bias must have shape (out_features)",
                ));
            }
        }
        Ok(Linear {
            weight,
            bias,
            training: true,
        })
    }

    /// `in_features`.
    pub fn in_features(&self) -> usize {
        self.weight.shape().get(1).copied().unwrap_or(0)
    }

    /// `out_features`.
    pub fn out_features(&self) -> usize {
        self.weight.shape().first().copied().unwrap_or(0)
    }
}

impl Module for Linear {
    fn type_name(&self) -> &'static str {
        "Linear"
    }

    fn forward(&mut self, input: Value) -> Result<Value> {
        let x = input.into_float("Linear")?;
        let in_f = self.in_features();
        if x.shape().last() != Some(&in_f) {
            return Err(NnError::input_shape(
                "Linear",
                format!("(*, {in_f})"),
                &x.shape(),
            ));
        }
        Ok(Value::Float(functional::linear(
            &x,
            &self.weight,
            self.bias.as_ref(),
        )?))
    }

    fn local_parameters(&self) -> Vec<(String, Tensor)> {
        let mut v = vec![("weight".to_string(), self.weight.clone())];
        if let Some(b) = &self.bias {
            v.push(("bias".to_string(), b.clone()));
        }
        v
    }

    fn extra_repr(&self) -> String {
        format!(
            "in_features={}, out_features={}, bias={}",
            self.in_features(),
            self.out_features(),
            super::repr::boolean(self.bias.is_some())
        )
    }

    training_flag!();
}
