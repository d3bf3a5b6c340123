//! [`ObserverModule`]: an observer or fake-quantize module as an [`nn::Module`], the
//! `activation_post_process` that prepare attaches.

use nn::{Module, NnError, Result, Tensor, Value};

use crate::{DType, FakeQuantizer, Observer, PostProcess, QConfig, QParamsOut, QuantError};

enum Post {
    Observer(Box<dyn Observer>),
    FakeQuantize(Box<dyn FakeQuantizer>),
}

/// Observes the float tensors passing through it (statistics for calibration) and returns
/// them unchanged, or fake-quantizes them (QAT). Carries the qconfig it was built from, as
/// PyTorch's module carries `qconfig`.
pub struct ObserverModule {
    post: Post,
    qconfig: Option<QConfig>,
    training: bool,
}

pub(crate) fn observer_err(e: QuantError, name: &str) -> NnError {
    NnError::bad_arg(name, e.to_string())
}

impl ObserverModule {
    /// Wraps what a qconfig entry built; `None` for `Identity` (nothing to observe).
    pub fn new(post: PostProcess, qconfig: Option<QConfig>) -> Option<ObserverModule> {
        let post = match post {
            PostProcess::Observer(o) => Post::Observer(o),
            PostProcess::FakeQuantize(f) => Post::FakeQuantize(f),
            PostProcess::Identity => return None,
        };
        Some(ObserverModule {
            post,
            qconfig,
            training: true,
        })
    }

    /// The observer (the one inside a fake-quantize module).
    pub fn observer(&self) -> &dyn Observer {
        match &self.post {
            Post::Observer(o) => o.as_ref(),
            Post::FakeQuantize(f) => f.observer(),
        }
    }

    /// The fake-quantize module, if this is one.
    pub fn fake_quantizer(&self) -> Option<&dyn FakeQuantizer> {
        match &self.post {
            Post::FakeQuantize(f) => Some(f.as_ref()),
            Post::Observer(_) => None,
        }
    }

    /// The qconfig this observer was built from.
    pub fn qconfig(&self) -> Option<&QConfig> {
        self.qconfig.as_ref()
    }

    /// The target dtype.
    pub fn dtype(&self) -> DType {
        match &self.post {
            Post::Observer(o) => o.dtype(),
            Post::FakeQuantize(f) => f.dtype(),
        }
    }

    /// PyTorch's `calculate_qparams()`; an observer that saw nothing gives PyTorch's fallback
    /// (scale 1, zero point 0) with [`QParamsOut::is_fallback`] set.
    pub fn calculate_qparams(&self) -> std::result::Result<QParamsOut, QuantError> {
        match &self.post {
            Post::Observer(o) => o.calculate_qparams(),
            Post::FakeQuantize(f) => f.calculate_qparams(),
        }
    }
}

impl Module for ObserverModule {
    fn type_name(&self) -> &'static str {
        match &self.post {
            Post::Observer(o) => o.name(),
            Post::FakeQuantize(f) => f.name(),
        }
    }

    fn forward(&mut self, input: Value) -> Result<Value> {
        let name = self.type_name();
        let x = match input {
            Value::Float(t) => t,
            other => {
                return Err(NnError::WrongValue {
                    module: name.to_string(),
                    expected: "a float tensor",
                    got: other.kind(),
                })
            }
        };
        match &mut self.post {
            Post::Observer(o) => {
                let data = x.data();
                o.observe(data.view()).map_err(|e| observer_err(e, name))?;
                Ok(Value::Float(x))
            }
            Post::FakeQuantize(f) => {
                let data = x.data();
                let out = f.forward(data.view()).map_err(|e| observer_err(e, name))?;
                Ok(Value::Float(Tensor::new(out.y)))
            }
        }
    }

    fn extra_repr(&self) -> String {
        let o = self.observer();
        match (o.min_val().as_slice(), o.max_val().as_slice()) {
            ([lo], [hi]) => format!("min_val={lo}, max_val={hi}"),
            _ => String::new(),
        }
    }

    fn is_training(&self) -> bool {
        self.training
    }

    fn set_training_flag(&mut self, training: bool) {
        self.training = training;
    }
}
