//! `FloatFunctional`: float add / mul / cat as a module, so quantization can observe and swap it.

use crate::error::{NnError, Result, FIX_DEQUANT};
use crate::layers::{training_flag, Identity};
use crate::module::{Child, Method, Module, Value};
use crate::tensor::Tensor;

/// Float `add`, `add_relu`, `mul`, `cat`, `add_scalar`, `mul_scalar`, `matmul` as a module
/// (`torch.ao.nn.quantized.FloatFunctional`), called through [`Module::call`] or
/// [`crate::FunctionalExt`] (`self.skip.add(a, b)?`). As in PyTorch, results pass through the
/// `activation_post_process` child (an `Identity` until prepare puts an observer there), except
/// those of `add_scalar` / `mul_scalar`; `forward` itself is an error.
pub struct FloatFunctional {
    /// The slot prepare fills with an observer.
    pub activation_post_process: Child,
    training: bool,
}

impl FloatFunctional {
    /// A new functional module.
    pub fn new() -> FloatFunctional {
        FloatFunctional {
            activation_post_process: Child::named("activation_post_process", Identity::new()),
            training: true,
        }
    }
}

impl Default for FloatFunctional {
    fn default() -> Self {
        FloatFunctional::new()
    }
}

/// Checks the argument count of `method` and takes the float tensors out of `args`.
pub(crate) fn float_args(module: &str, method: Method, args: Vec<Value>) -> Result<Vec<Tensor>> {
    let ok = match method.arity() {
        Some(n) => args.len() == n,
        None => !args.is_empty(),
    };
    if !ok {
        return Err(NnError::bad_arg(
            format!("{module}.{method}"),
            format!("got {} tensor arguments", args.len()),
        ));
    }
    args.into_iter()
        .map(|v| v.into_float_with_fix(&format!("{module}.{method}"), FIX_DEQUANT))
        .collect()
}

/// The float computation of a functional method on already checked arguments.
pub(crate) fn float_method(method: Method, t: &[Tensor]) -> Result<Tensor> {
    Ok(match method {
        Method::Add => t[0].add(&t[1])?,
        Method::AddRelu => t[0].add(&t[1])?.relu(),
        Method::Mul => t[0].mul(&t[1])?,
        Method::Cat { dim } => Tensor::cat(t, dim)?,
        Method::AddScalar(s) => t[0].add_scalar(s),
        Method::MulScalar(s) => t[0].mul_scalar(s),
        Method::Matmul => t[0].matmul(&t[1])?,
    })
}

impl Module for FloatFunctional {
    fn type_name(&self) -> &'static str {
        "FloatFunctional"
    }

    fn forward(&mut self, _input: Value) -> Result<Value> {
        Err(NnError::bad_arg(
            "FloatFunctional",
            "FloatFunctional is not intended to use forward; call its methods (add, cat, mul ...)",
        ))
    }

    fn call(&mut self, method: Method, args: Vec<Value>) -> Result<Value> {
        let t = float_args("FloatFunctional", method, args)?;
        let y = Value::Float(float_method(method, &t)?);
        match method {
            Method::AddScalar(_) | Method::MulScalar(_) => Ok(y),
            _ => self.activation_post_process.forward(y),
        }
    }

    fn children(&self) -> Vec<(String, &dyn Module)> {
        vec![(
            "activation_post_process".into(),
            self.activation_post_process.module(),
        )]
    }

    fn child_slots_mut(&mut self) -> Vec<(String, &mut Box<dyn Module>)> {
        vec![(
            "activation_post_process".into(),
            self.activation_post_process.slot_mut(),
        )]
    }

    training_flag!();
}
