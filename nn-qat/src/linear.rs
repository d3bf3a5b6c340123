//! `torch.ao.nn.qat.Linear`.

use nn::{functional, Child, Module, NnError, Result, Tensor, Value};

use crate::weight::{self, fresh_parameter};

/// `y = x @ fake_quant(weight)^T + bias` (`nnqat.Linear`): a linear layer whose weight passes
/// through its `weight_fake_quant` child on every forward, trainable through the fake quant.
pub struct Linear {
    /// `(out_features, in_features)`.
    pub weight: Tensor,
    /// `(out_features)`, if the layer has a bias.
    pub bias: Option<Tensor>,
    weight_fake_quant: Child,
    training: bool,
}

impl Linear {
    /// A layer with PyTorch's default initialisation and the given weight fake-quant.
    pub fn new(
        in_features: usize,
        out_features: usize,
        bias: bool,
        weight_fake_quant: Box<dyn Module>,
    ) -> Linear {
        let float = nn::Linear::new(in_features, out_features, bias);
        Linear {
            weight: float.weight,
            bias: float.bias,
            weight_fake_quant: weight::slot(weight_fake_quant),
            training: true,
        }
    }

    /// A layer around existing parameters (shared, not copied); shapes are checked as
    /// `nn::Linear::from_parts` checks them.
    pub fn from_parts(
        weight: Tensor,
        bias: Option<Tensor>,
        weight_fake_quant: Box<dyn Module>,
    ) -> Result<Linear> {
        let float = nn::Linear::from_parts(weight, bias)?;
        Ok(Linear {
            weight: float.weight,
            bias: float.bias,
            weight_fake_quant: weight::slot(weight_fake_quant),
            training: true,
        })
    }

    /// `Linear.from_float`: the QAT form of `float`, sharing its parameters (an optimizer
    /// built on either trains both), in training mode (a fresh module, as PyTorch's).
    pub fn from_float(float: &nn::Linear, weight_fake_quant: Box<dyn Module>) -> Result<Linear> {
        Linear::from_parts(float.weight.clone(), float.bias.clone(), weight_fake_quant)
    }

    /// `to_float`: a float `nn::Linear` with copies of the (not fake-quantized) parameters, in
    /// this module's training mode.
    pub fn to_float(&self) -> Result<nn::Linear> {
        let mut l = nn::Linear::from_parts(
            fresh_parameter(&self.weight),
            self.bias.as_ref().map(fresh_parameter),
        )?;
        l.set_training_flag(self.training);
        Ok(l)
    }

    /// `in_features`.
    pub fn in_features(&self) -> usize {
        self.weight.shape().get(1).copied().unwrap_or(0)
    }

    /// `out_features`.
    pub fn out_features(&self) -> usize {
        self.weight.shape().first().copied().unwrap_or(0)
    }

    /// The weight's fake-quant module.
    pub fn weight_fake_quant(&self) -> &dyn Module {
        self.weight_fake_quant.module()
    }

    /// The weight's fake-quant module, mutably.
    pub fn weight_fake_quant_mut(&mut self) -> &mut dyn Module {
        self.weight_fake_quant.module_mut()
    }

    /// The weight after its fake quant (runs the fake-quant module once, updating its
    /// statistics if its observer is on).
    pub fn fake_quantized_weight(&mut self) -> Result<Tensor> {
        weight::apply(&mut self.weight_fake_quant, "Linear", &self.weight)
    }
}

/// Checks `x` against a linear layer with `in_f` inputs (shared with the fused forms).
pub(crate) fn check_input(name: &str, x: &Tensor, in_f: usize) -> Result<()> {
    if x.shape().last() != Some(&in_f) {
        return Err(NnError::input_shape(
            name,
            format!("(*, {in_f})"),
            &x.shape(),
        ));
    }
    Ok(())
}

/// Python's `True` / `False`.
pub(crate) fn py_bool(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

impl Module for Linear {
    fn type_name(&self) -> &'static str {
        "Linear"
    }

    fn forward(&mut self, input: Value) -> Result<Value> {
        let x = input.into_float("Linear")?;
        check_input("Linear", &x, self.in_features())?;
        let w = self.fake_quantized_weight()?;
        Ok(Value::Float(functional::linear(
            &x,
            &w,
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

    fn children(&self) -> Vec<(String, &dyn Module)> {
        vec![weight::child_ref(&self.weight_fake_quant)]
    }

    fn child_slots_mut(&mut self) -> Vec<(String, &mut Box<dyn Module>)> {
        vec![weight::child_slot(&mut self.weight_fake_quant)]
    }

    fn extra_repr(&self) -> String {
        format!(
            "in_features={}, out_features={}, bias={}",
            self.in_features(),
            self.out_features(),
            py_bool(self.bias.is_some())
        )
    }

    fn is_training(&self) -> bool {
        self.training
    }

    fn set_training_flag(&mut self, training: bool) {
        self.training = training;
    }
}
