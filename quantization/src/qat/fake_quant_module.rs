//! [`FakeQuantizeModule`]: a [`FakeQuantizer`] (or an observer) as an [`nn::Module`] whose
//! forward is a differentiable operation: the straight-through estimator, or the learnable
//! fake quant's gradients with respect to the input, scale and zero point.

use ndarray::{ArrayD, Zip};
use nn::{Module, NnError, Tensor, Value};

use crate::fake_quantize::{learnable_per_channel_backward, FakeQuantizeSpec};
use crate::observer::{Observer, QParamsOut, DEFAULT_EPS};
use crate::qconfig::{PostProcess, QConfig, QConfigEntry};
use crate::{FakeQuantizer, LearnableFakeQuantize, QuantError};

/// What the module runs.
enum Inner {
    FakeQuant(Box<dyn FakeQuantizer>),
    Observer(Box<dyn Observer>),
}

/// The scale and zero point of a learnable fake quant as trainable tensors.
struct LearnableParams {
    scale: Tensor,
    zero_point: Tensor,
}

/// A fake-quantize module in the `nn` module tree (PyTorch's `FakeQuantize`,
/// `FusedMovingAvgObsFakeQuantize`, `_LearnableFakeQuantize` as `nn.Module`s), used as a QAT
/// layer's `weight_fake_quant` and as an `activation_post_process`.
///
/// The forward observes (if the observer is on) and fake-quantizes (if fake quant is on). Its
/// backward passes the gradient where the value was inside the quantization range and zero
/// elsewhere (straight-through estimator); with fake quant off it is the identity. A
/// [`LearnableFakeQuantize`] exposes its scale and zero point as the parameters `scale` and
/// `zero_point`, which require grad while parameter learning is on
/// ([`FakeQuantizeModule::enable_param_learning`]); an optimizer over the model's parameters
/// then trains them with PyTorch's gradients. An observer (a PTQ qconfig entry) records the
/// values and passes them through unchanged.
pub struct FakeQuantizeModule {
    inner: Inner,
    learnable: Option<LearnableParams>,
    qconfig: Option<QConfig>,
    training: bool,
}

fn quant_err(name: &str, e: QuantError) -> NnError {
    NnError::bad_arg(name, e.to_string())
}

fn vec_tensor(v: &[f32], learn: bool) -> Tensor {
    let a = ArrayD::from_shape_vec(ndarray::IxDyn(&[v.len()]), v.to_vec()).expect("length matches");
    if learn {
        Tensor::parameter(a)
    } else {
        Tensor::new(a)
    }
}

impl FakeQuantizeModule {
    /// Wraps a fake-quantize module.
    pub fn new(fq: Box<dyn FakeQuantizer>) -> FakeQuantizeModule {
        let learnable = fq
            .as_any()
            .downcast_ref::<LearnableFakeQuantize>()
            .map(|l| LearnableParams {
                scale: vec_tensor(&l.scale(), l.learning_enabled()),
                zero_point: vec_tensor(l.zero_point_param(), l.learning_enabled()),
            });
        FakeQuantizeModule {
            inner: Inner::FakeQuant(fq),
            learnable,
            qconfig: None,
            training: true,
        }
    }

    /// Wraps an observer: the forward records the values and returns them unchanged.
    pub fn observer(obs: Box<dyn Observer>) -> FakeQuantizeModule {
        FakeQuantizeModule {
            inner: Inner::Observer(obs),
            learnable: None,
            qconfig: None,
            training: true,
        }
    }

    /// A fresh module from a fake-quantize spec; errors as [`FakeQuantizeSpec::build`].
    pub fn from_spec(spec: &FakeQuantizeSpec) -> Result<FakeQuantizeModule, QuantError> {
        Ok(FakeQuantizeModule::new(spec.build()?))
    }

    /// What a qconfig entry builds, as a module: a fake quant or an observer wrapped in a
    /// [`FakeQuantizeModule`], or `nn::Identity` for an `Identity` entry (PyTorch's
    /// `qconfig.weight()` returning `torch.nn.Identity`). Errors as the entry's factory.
    pub fn from_entry(entry: &QConfigEntry) -> Result<Box<dyn Module>, QuantError> {
        Ok(Self::from_post_process(entry.build()?))
    }

    /// A module for something a qconfig entry built (see [`FakeQuantizeModule::from_entry`]).
    pub fn from_post_process(p: PostProcess) -> Box<dyn Module> {
        match p {
            PostProcess::FakeQuantize(f) => Box::new(FakeQuantizeModule::new(f)),
            PostProcess::Observer(o) => Box::new(FakeQuantizeModule::observer(o)),
            PostProcess::Identity => Box::new(nn::Identity::new()),
        }
    }

    /// Records the qconfig this module was built from (as PyTorch's module carries
    /// `qconfig`); `prepare_qat` sets it on the activation fake-quants it attaches.
    pub fn with_qconfig(mut self, qconfig: QConfig) -> FakeQuantizeModule {
        self.qconfig = Some(qconfig);
        self
    }

    /// The qconfig this module was built from, if recorded.
    pub fn qconfig(&self) -> Option<&QConfig> {
        self.qconfig.as_ref()
    }

    /// The fake-quantize module inside (`None` for an observer).
    pub fn fake_quantizer(&self) -> Option<&dyn FakeQuantizer> {
        match &self.inner {
            Inner::FakeQuant(f) => Some(f.as_ref()),
            Inner::Observer(_) => None,
        }
    }

    /// The fake-quantize module inside, mutably. Changing a learnable module's parameters
    /// here is overwritten from the `scale` / `zero_point` tensors on the next forward while
    /// learning is on; use [`FakeQuantizeModule::set_learnable_params`].
    pub fn fake_quantizer_mut(&mut self) -> Option<&mut dyn FakeQuantizer> {
        match &mut self.inner {
            Inner::FakeQuant(f) => Some(f.as_mut()),
            Inner::Observer(_) => None,
        }
    }

    /// The observer (`activation_post_process` of a fake quant, or the wrapped observer).
    pub fn observer_ref(&self) -> &dyn Observer {
        match &self.inner {
            Inner::FakeQuant(f) => f.observer(),
            Inner::Observer(o) => o.as_ref(),
        }
    }

    /// Gives the wrapped fake quant or observer back (for a convert pass).
    pub fn into_post_process(self) -> PostProcess {
        match self.inner {
            Inner::FakeQuant(f) => PostProcess::FakeQuantize(f),
            Inner::Observer(o) => PostProcess::Observer(o),
        }
    }

    /// `calculate_qparams()` of the fake quant (or observer).
    pub fn calculate_qparams(&self) -> Result<QParamsOut, QuantError> {
        match &self.inner {
            Inner::FakeQuant(f) => f.calculate_qparams(),
            Inner::Observer(o) => o.calculate_qparams(),
        }
    }

    /// `enable_observer(on)` / `disable_observer()`; observers wrapped directly always observe.
    pub fn enable_observer(&mut self, on: bool) {
        if let Inner::FakeQuant(f) = &mut self.inner {
            f.enable_observer(on);
        }
    }

    /// `enable_fake_quant(on)` / `disable_fake_quant()`; no effect on an observer.
    pub fn enable_fake_quant(&mut self, on: bool) {
        if let Inner::FakeQuant(f) = &mut self.inner {
            f.enable_fake_quant(on);
        }
    }

    fn learnable_mut(&mut self) -> Option<(&mut LearnableFakeQuantize, &mut LearnableParams)> {
        let Inner::FakeQuant(f) = &mut self.inner else {
            return None;
        };
        let l = f.as_any_mut().downcast_mut::<LearnableFakeQuantize>()?;
        Some((l, self.learnable.as_mut()?))
    }

    fn set_learning(&mut self, mode: fn(&mut LearnableFakeQuantize)) -> bool {
        let Some((l, p)) = self.learnable_mut() else {
            return false;
        };
        mode(l);
        let learn = l.learning_enabled();
        // Leaves can always change requires_grad.
        let _ = p.scale.set_requires_grad(learn);
        let _ = p.zero_point.set_requires_grad(learn);
        true
    }

    /// `enable_param_learning()` of a learnable fake quant: fake quant on, observer off, the
    /// `scale` / `zero_point` parameters require grad. Returns false (nothing done) for other
    /// modules.
    pub fn enable_param_learning(&mut self) -> bool {
        self.set_learning(LearnableFakeQuantize::enable_param_learning)
    }

    /// `enable_static_estimate()`: the observer sets the parameters each forward, which do
    /// not require grad. Returns false for modules that are not learnable.
    pub fn enable_static_estimate(&mut self) -> bool {
        self.set_learning(LearnableFakeQuantize::enable_static_estimate)
    }

    /// `enable_static_observation()`: observe only, output = input. Returns false for modules
    /// that are not learnable.
    pub fn enable_static_observation(&mut self) -> bool {
        self.set_learning(LearnableFakeQuantize::enable_static_observation)
    }

    /// Sets a learnable fake quant's scale and zero point (both the module and the tensors);
    /// errors as [`LearnableFakeQuantize::set_params`], or if the module is not learnable.
    pub fn set_learnable_params(
        &mut self,
        scale: &[f32],
        zero_point: &[f32],
    ) -> Result<(), QuantError> {
        let Some((l, p)) = self.learnable_mut() else {
            return Err(QuantError::Unsupported {
                observer: "FakeQuantizeModule",
                what: "only a learnable fake quant has learnable parameters".into(),
            });
        };
        l.set_params(scale, zero_point)?;
        p.scale
            .update_data(|d| d.iter_mut().zip(scale).for_each(|(v, s)| *v = *s));
        p.zero_point
            .update_data(|d| d.iter_mut().zip(zero_point).for_each(|(v, z)| *v = *z));
        Ok(())
    }

    fn forward_fake_quant(&mut self, x: Tensor) -> nn::Result<Tensor> {
        let name = self.type_name();
        let Inner::FakeQuant(f) = &mut self.inner else {
            unreachable!("called for fake quants only")
        };
        let data = x.data();
        let out = f.forward(data.view()).map_err(|e| quant_err(name, e))?;
        let Some(mask) = out.mask else {
            return Ok(x); // fake quant off: the identity
        };
        Ok(Tensor::from_op(
            "fake_quantize",
            &[&x],
            out.y,
            move |g, _| {
                vec![Some(Zip::from(g).and(&mask).map_collect(|&g, &m| {
                    if m {
                        g
                    } else {
                        0.0
                    }
                }))]
            },
        ))
    }

    fn forward_learnable(&mut self, x: Tensor) -> nn::Result<Tensor> {
        let name = self.type_name();
        let Some((l, p)) = self.learnable_mut() else {
            unreachable!("called for learnable fake quants only")
        };
        if l.learning_enabled() {
            // Parameters come from the optimizer: clamp the scale at eps as PyTorch's forward.
            let scale: Vec<f32> = p
                .scale
                .to_vec()
                .iter()
                .map(|s| s.max(DEFAULT_EPS))
                .collect();
            l.set_params(&scale, &p.zero_point.to_vec())
                .map_err(|e| quant_err(name, e))?;
        }
        let data = x.data();
        let out = l.forward(data.view()).map_err(|e| quant_err(name, e))?;
        let (scale, zero_point) = (l.scale(), l.zero_point_param().to_vec());
        p.scale
            .update_data(|d| d.iter_mut().zip(&scale).for_each(|(v, s)| *v = *s));
        p.zero_point
            .update_data(|d| d.iter_mut().zip(&zero_point).for_each(|(v, z)| *v = *z));
        if out.mask.is_none() {
            return Ok(x);
        }
        let (qmin, qmax) = l.quant_range();
        let axis = l.ch_axis();
        let grad_factor = if l.use_grad_scaling() {
            (1.0 / ((x.len() as f64) * qmax as f64).sqrt()) as f32
        } else {
            1.0
        };
        let inputs = [&x, &p.scale, &p.zero_point];
        Ok(Tensor::from_op(
            "fake_quantize_learnable",
            &inputs,
            out.y,
            move |g, need| {
                let grads = match axis {
                    None => qtensor::learnable_fake_quantize_per_tensor_affine_backward(
                        g.view(),
                        data.view(),
                        scale[0],
                        zero_point[0],
                        qmin,
                        qmax,
                        grad_factor,
                    )
                    .map(|r| (r.grad_x, vec![r.grad_scale], vec![r.grad_zero_point]))
                    .map_err(QuantError::from),
                    Some(axis) => learnable_per_channel_backward(
                        g.view(),
                        data.view(),
                        &scale,
                        &zero_point,
                        axis,
                        qmin,
                        qmax,
                        grad_factor,
                    )
                    .map(|r| (r.grad_x, r.grad_scale, r.grad_zero_point)),
                };
                // The forward succeeded with these parameters and shapes, so the backward does too.
                let Ok((gx, gs, gz)) = grads else {
                    return vec![None, None, None];
                };
                let v = |v: Vec<f32>| ArrayD::from_shape_vec(ndarray::IxDyn(&[v.len()]), v).ok();
                vec![
                    need[0].then_some(gx),
                    if need[1] { v(gs) } else { None },
                    if need[2] { v(gz) } else { None },
                ]
            },
        ))
    }
}

impl Module for FakeQuantizeModule {
    fn type_name(&self) -> &'static str {
        match &self.inner {
            Inner::FakeQuant(f) => f.name(),
            Inner::Observer(o) => o.name(),
        }
    }

    fn forward(&mut self, input: Value) -> nn::Result<Value> {
        let x = input.into_float(self.type_name())?;
        let y = match &mut self.inner {
            Inner::Observer(o) => {
                let data = x.data();
                let name = o.name();
                o.observe(data.view()).map_err(|e| quant_err(name, e))?;
                x
            }
            Inner::FakeQuant(_) if self.learnable.is_some() => self.forward_learnable(x)?,
            Inner::FakeQuant(_) => self.forward_fake_quant(x)?,
        };
        Ok(Value::Float(y))
    }

    fn local_parameters(&self) -> Vec<(String, Tensor)> {
        match &self.learnable {
            Some(p) => vec![
                ("scale".into(), p.scale.clone()),
                ("zero_point".into(), p.zero_point.clone()),
            ],
            None => Vec::new(),
        }
    }

    fn extra_repr(&self) -> String {
        match &self.inner {
            Inner::FakeQuant(f) => {
                let (qmin, qmax) = f.quant_range();
                format!(
                    "fake_quant_enabled={}, observer_enabled={}, quant_min={qmin}, quant_max={qmax}, dtype={:?}, qscheme={:?}, ch_axis={}, scale={:?}, zero_point={:?}",
                    u8::from(f.fake_quant_enabled()),
                    u8::from(f.observer_enabled()),
                    f.dtype(),
                    f.qscheme(),
                    f.ch_axis().map_or(-1, |a| a as i64),
                    f.scale(),
                    f.zero_point().to_f64(),
                )
            }
            Inner::Observer(o) => {
                let (lo, hi) = (o.min_val(), o.max_val());
                match (lo.as_slice(), hi.as_slice()) {
                    ([lo], [hi]) => format!("min_val={lo}, max_val={hi}"),
                    _ => String::new(),
                }
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
