//! `nniqat.LinearReLU` and `nniqat.LinearBn1d`.

use nn::{functional, BatchNorm1d, BatchNormConfig, Child, Module, NnError, Result, Tensor, Value};
use nn_qat::weight::{self, fresh_parameter};

use super::bn_fold::{approximate_forward, bn_slot, bn_view, reset_bn_weight, share_bn};
use super::conv_bn::fused_child;
use crate::fold::{fuse_linear_bn_weights, BatchNormStats};

/// `nniqat.LinearReLU`: a QAT `Linear` then ReLU; parameters `weight`, `bias` and the child
/// `weight_fake_quant`, as the QAT linear it wraps.
pub struct LinearReLU {
    linear: nn_qat::Linear,
}

impl LinearReLU {
    /// A fresh module with PyTorch's initialisation.
    pub fn new(
        in_features: usize,
        out_features: usize,
        bias: bool,
        weight_fake_quant: Box<dyn Module>,
    ) -> LinearReLU {
        LinearReLU {
            linear: nn_qat::Linear::new(in_features, out_features, bias, weight_fake_quant),
        }
    }

    /// The QAT module of a float linear layer (followed by a ReLU), sharing its parameters,
    /// in training mode.
    pub fn from_linear(
        linear: &nn::Linear,
        weight_fake_quant: Box<dyn Module>,
    ) -> Result<LinearReLU> {
        Ok(LinearReLU {
            linear: nn_qat::Linear::from_float(linear, weight_fake_quant)?,
        })
    }

    /// `from_float`: the QAT module of a fused float `LinearReLU` (the linear layer's
    /// parameters shared), in training mode.
    pub fn from_float(
        fused: &crate::LinearReLU,
        weight_fake_quant: Box<dyn Module>,
    ) -> Result<LinearReLU> {
        let linear = fused_child::<nn::Linear>("LinearReLU", fused, 0)?;
        LinearReLU::from_linear(linear, weight_fake_quant)
    }

    /// `to_float`: the fused float `LinearReLU` with a copy of the linear layer, in this
    /// module's training mode.
    pub fn to_float(&self) -> Result<crate::LinearReLU> {
        let mut m = crate::LinearReLU::new(self.linear.to_float()?, nn::ReLU::new());
        m.train(self.linear.is_training());
        Ok(m)
    }

    /// The QAT linear layer inside.
    pub fn linear(&self) -> &nn_qat::Linear {
        &self.linear
    }

    /// The QAT linear layer inside, mutably.
    pub fn linear_mut(&mut self) -> &mut nn_qat::Linear {
        &mut self.linear
    }
}

impl Module for LinearReLU {
    fn type_name(&self) -> &'static str {
        "LinearReLU"
    }

    fn forward(&mut self, input: Value) -> Result<Value> {
        let y = self
            .linear
            .forward(input)
            .map_err(|e| rename_linear(e, "LinearReLU"))?;
        Ok(Value::Float(y.into_float("LinearReLU")?.relu()))
    }

    fn local_parameters(&self) -> Vec<(String, Tensor)> {
        self.linear.local_parameters()
    }

    fn children(&self) -> Vec<(String, &dyn Module)> {
        self.linear.children()
    }

    fn child_slots_mut(&mut self) -> Vec<(String, &mut Box<dyn Module>)> {
        self.linear.child_slots_mut()
    }

    fn extra_repr(&self) -> String {
        self.linear.extra_repr()
    }

    fn is_training(&self) -> bool {
        self.linear.is_training()
    }

    fn set_training_flag(&mut self, training: bool) {
        self.linear.set_training_flag(training);
    }
}

/// Names `module` in an input-shape error raised by the inner linear layer.
fn rename_linear(e: NnError, module: &str) -> NnError {
    match e {
        NnError::InputShape { expected, got, .. } => NnError::InputShape {
            module: module.to_string(),
            expected,
            got,
        },
        other => other,
    }
}

/// `nniqat.LinearBn1d`: `Linear` + `BatchNorm1d` with the fold simulated in training (the
/// weight scaled by `gamma / sqrt(running_var + eps)` before its fake quant, the output scaled
/// back, the bias added, then the batch norm). Parameters `weight`, `bias`; children `bn` and
/// `weight_fake_quant`.
pub struct LinearBn1d {
    /// `(out_features, in_features)`, before folding.
    pub weight: Tensor,
    /// `(out_features)`, if the layer has a bias.
    pub bias: Option<Tensor>,
    bn: Child,
    weight_fake_quant: Child,
    freeze_bn: bool,
    training: bool,
}

impl LinearBn1d {
    /// A fresh module (PyTorch's constructor): the linear layer with PyTorch's initialisation,
    /// a batch norm over its outputs with `bn`'s eps and momentum (affine, tracking), its
    /// weight uniform in `[0, 1)`; with `freeze_bn` the batch norm starts frozen.
    pub fn new(
        in_features: usize,
        out_features: usize,
        bias: bool,
        bn: BatchNormConfig,
        freeze_bn: bool,
        weight_fake_quant: Box<dyn Module>,
    ) -> Result<LinearBn1d> {
        let linear = nn::Linear::new(in_features, out_features, bias);
        let config = BatchNormConfig {
            affine: true,
            track_running_stats: true,
            ..bn
        };
        let norm = BatchNorm1d::with_config(out_features, config);
        reset_bn_weight(&norm.weight);
        let mut m = LinearBn1d::from_modules(&linear, &norm, weight_fake_quant)?;
        if freeze_bn {
            m.freeze_bn_stats();
        }
        Ok(m)
    }

    /// The QAT module of a float linear layer and batch norm, sharing their parameters and
    /// running statistics, in training mode. Errors if the batch norm is not affine, does not
    /// track running statistics, or does not match the output features.
    pub fn from_modules(
        linear: &nn::Linear,
        bn: &BatchNorm1d,
        weight_fake_quant: Box<dyn Module>,
    ) -> Result<LinearBn1d> {
        let mut norm = share_bn!(BatchNorm1d, bn, linear.out_features(), "LinearBn1d");
        norm.set_training_flag(true);
        Ok(LinearBn1d {
            weight: linear.weight.clone(),
            bias: linear.bias.clone(),
            bn: bn_slot(norm),
            weight_fake_quant: weight::slot(weight_fake_quant),
            freeze_bn: false,
            training: true,
        })
    }

    /// `from_float`: the QAT module of a fused float `LinearBn1d` (its children shared), in
    /// training mode; errors as [`LinearBn1d::from_modules`].
    pub fn from_float(
        fused: &crate::LinearBn1d,
        weight_fake_quant: Box<dyn Module>,
    ) -> Result<LinearBn1d> {
        let linear = fused_child::<nn::Linear>("LinearBn1d", fused, 0)?;
        let bn = fused_child::<BatchNorm1d>("LinearBn1d", fused, 1)?;
        LinearBn1d::from_modules(linear, bn, weight_fake_quant)
    }

    /// `to_float`: the linear layer with the batch norm folded in (`fuse_linear_bn_weights`
    /// with the running statistics), bias always present.
    pub fn to_float(&self) -> Result<nn::Linear> {
        let v = bn_view("LinearBn1d", self.bn.module())?;
        let (gamma, beta, mean, var) = (
            v.weight.to_vec(),
            v.bias.to_vec(),
            v.running_mean.to_vec(),
            v.running_var.to_vec(),
        );
        let stats = BatchNormStats {
            weight: Some(&gamma),
            bias: Some(&beta),
            running_mean: &mean,
            running_var: &var,
            eps: v.eps as f32,
        };
        let b = self.bias.as_ref().map(Tensor::to_vec);
        let wd = self.weight.data();
        let (w, b) = fuse_linear_bn_weights(wd.view(), b.as_deref(), &stats)
            .map_err(|e| NnError::bad_arg("LinearBn1d", e.to_string()))?;
        let n = b.len();
        let bias = ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&[n]), b).expect("n values");
        let mut l = nn::Linear::from_parts(Tensor::parameter(w), Some(Tensor::parameter(bias)))?;
        l.set_training_flag(self.training);
        Ok(l)
    }

    /// A copy of the unfolded float linear layer (the batch norm is not included).
    pub fn to_float_linear(&self) -> Result<nn::Linear> {
        nn::Linear::from_parts(
            fresh_parameter(&self.weight),
            self.bias.as_ref().map(fresh_parameter),
        )
    }

    /// `freeze_bn_stats()`: the batch norm uses (and keeps) its running statistics.
    pub fn freeze_bn_stats(&mut self) {
        self.freeze_bn = true;
        self.bn.set_training_flag(false);
    }

    /// `update_bn_stats()`: the batch norm uses batch statistics and updates its running ones.
    pub fn update_bn_stats(&mut self) {
        self.freeze_bn = false;
        self.bn.set_training_flag(true);
    }

    /// True while the batch norm statistics are frozen.
    pub fn is_bn_frozen(&self) -> bool {
        self.freeze_bn
    }

    /// The batch norm; errors if the `bn` child was replaced by something else.
    pub fn bn(&self) -> Result<&BatchNorm1d> {
        self.bn
            .module()
            .downcast_ref::<BatchNorm1d>()
            .ok_or_else(|| {
                NnError::bad_arg(
                    "LinearBn1d",
                    "child 'bn' is not the batch norm it was built with",
                )
            })
    }

    /// The weight's fake-quant module.
    pub fn weight_fake_quant(&self) -> &dyn Module {
        self.weight_fake_quant.module()
    }

    /// The weight's fake-quant module, mutably.
    pub fn weight_fake_quant_mut(&mut self) -> &mut dyn Module {
        self.weight_fake_quant.module_mut()
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

impl Module for LinearBn1d {
    fn type_name(&self) -> &'static str {
        "LinearBn1d"
    }

    fn forward(&mut self, input: Value) -> Result<Value> {
        let x = input.into_float("LinearBn1d")?;
        let in_f = self.in_features();
        if x.shape().last() != Some(&in_f) {
            return Err(NnError::input_shape(
                "LinearBn1d",
                format!("(N, {in_f})"),
                &x.shape(),
            ));
        }
        let y = approximate_forward(
            "LinearBn1d",
            &self.weight,
            self.bias.as_ref(),
            &mut self.bn,
            &mut self.weight_fake_quant,
            |w| functional::linear(&x, w, None),
        )?;
        Ok(Value::Float(y))
    }

    fn local_parameters(&self) -> Vec<(String, Tensor)> {
        let mut v = vec![("weight".to_string(), self.weight.clone())];
        if let Some(b) = &self.bias {
            v.push(("bias".to_string(), b.clone()));
        }
        v
    }

    fn children(&self) -> Vec<(String, &dyn Module)> {
        vec![
            ("bn".to_string(), self.bn.module()),
            weight::child_ref(&self.weight_fake_quant),
        ]
    }

    fn child_slots_mut(&mut self) -> Vec<(String, &mut Box<dyn Module>)> {
        vec![
            ("bn".to_string(), self.bn.slot_mut()),
            weight::child_slot(&mut self.weight_fake_quant),
        ]
    }

    fn extra_repr(&self) -> String {
        format!(
            "in_features={}, out_features={}, bias={}",
            self.in_features(),
            self.out_features(),
            if self.bias.is_some() { "True" } else { "False" }
        )
    }

    /// PyTorch's `train(mode)`: a frozen batch norm (and the fake quant) keep their mode.
    fn train(&mut self, mode: bool) {
        self.training = mode;
        if !self.freeze_bn {
            for (_, slot) in self.child_slots_mut() {
                slot.train(mode);
            }
        }
    }

    fn is_training(&self) -> bool {
        self.training
    }

    fn set_training_flag(&mut self, training: bool) {
        self.training = training;
    }
}
