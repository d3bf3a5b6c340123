//! `torch.ao.nn.quantized.QFunctional`: the quantized form of `FloatFunctional`.

use nn::{Child, Identity, Method, Module, NnError, Result, Value};
use qtensor::QTensor;

use super::util::{op_err, py_float};
use crate::functional as F;
use crate::state::{
    check_local_state, out_qparams, read_out_qparams, QStateTensor, QuantizedState,
    QuantizedStateDict, StagedState, StateError,
};

/// Quantized `add`, `add_relu`, `mul`, `cat` (requantized to this module's scale and zero
/// point) and `add_scalar`, `mul_scalar` (parameters chosen by the operator), called through
/// [`Module::call`] / [`nn::FunctionalExt`]. As PyTorch's, results of the first four pass
/// through the `activation_post_process` child (an `Identity`).
pub struct QFunctional {
    scale: f64,
    zero_point: i64,
    /// Applied to the results of add / add_relu / mul / cat.
    pub activation_post_process: Child,
    training: bool,
}

impl QFunctional {
    /// A functional module with the output's scale and zero point.
    pub fn new(scale: f64, zero_point: i64) -> Result<QFunctional, qtensor::QError> {
        qtensor::check_scale("scale", scale)?;
        qtensor::check_zero_point("zero_point", zero_point, qtensor::QDType::QUInt8)?;
        crate::register_quant_ops();
        Ok(QFunctional {
            scale,
            zero_point,
            activation_post_process: Child::named("activation_post_process", Identity::new()),
            training: true,
        })
    }

    /// Output scale.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// Output zero point.
    pub fn zero_point(&self) -> i64 {
        self.zero_point
    }
}

const NAME: &str = "QFunctional";

fn quant_args(method: Method, args: Vec<Value>) -> Result<Vec<QTensor>> {
    let ok = match method.arity() {
        Some(n) => args.len() == n,
        None => !args.is_empty(),
    };
    if !ok {
        return Err(NnError::bad_arg(
            format!("{NAME}.{method}"),
            format!("got {} tensor arguments", args.len()),
        ));
    }
    args.into_iter().map(|v| v.into_quant(NAME)).collect()
}

impl Module for QFunctional {
    fn type_name(&self) -> &'static str {
        NAME
    }

    fn forward(&mut self, _input: Value) -> Result<Value> {
        Err(NnError::bad_arg(
            NAME,
            "Functional is not intended to use the 'forward'; call its methods (add, cat, mul ...)",
        ))
    }

    fn call(&mut self, method: Method, args: Vec<Value>) -> Result<Value> {
        if method == Method::Matmul {
            return Err(NnError::UnsupportedMethod {
                module: NAME.into(),
                method: method.name().into(),
            });
        }
        let t = quant_args(method, args)?;
        let (s, z) = (self.scale, self.zero_point);
        let e = op_err(NAME);
        let y = match method {
            Method::Add => F::add(&t[0], &t[1], s, z).map_err(e)?,
            Method::AddRelu => F::add_relu(&t[0], &t[1], s, z).map_err(e)?,
            Method::Mul => F::mul(&t[0], &t[1], s, z).map_err(e)?,
            Method::Cat { dim } => {
                let n = t[0].ndim() as isize;
                let d = if dim < 0 { dim + n } else { dim };
                if !(0..n.max(1)).contains(&d) {
                    return Err(NnError::bad_arg(
                        format!("{NAME}.cat"),
                        format!("dim {dim} out of range for {n}-d tensors"),
                    ));
                }
                let refs: Vec<&QTensor> = t.iter().collect();
                F::cat(&refs, d as usize, s, z).map_err(e)?
            }
            Method::AddScalar(v) => {
                return Ok(Value::Quant(F::add_scalar(&t[0], f64::from(v)).map_err(e)?))
            }
            Method::MulScalar(v) => {
                return Ok(Value::Quant(F::mul_scalar(&t[0], f64::from(v)).map_err(e)?))
            }
            Method::Matmul => unreachable!("rejected above"),
        };
        self.activation_post_process.forward(Value::Quant(y))
    }

    fn extra_repr(&self) -> String {
        format!(
            "scale={}, zero_point={}",
            py_float(self.scale),
            self.zero_point
        )
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

    fn is_training(&self) -> bool {
        self.training
    }

    fn set_training_flag(&mut self, training: bool) {
        self.training = training;
    }
}

/// `scale` and `zero_point` of the add / mul / cat outputs (the `activation_post_process`
/// child is kept).
impl QuantizedState for QFunctional {
    fn quantized_state(&self) -> Vec<(String, QStateTensor)> {
        out_qparams(self.scale, self.zero_point).into()
    }

    fn stage_quantized_state(&self, state: &QuantizedStateDict) -> Result<StagedState, StateError> {
        check_local_state(self, state)?;
        Ok(StagedState::new(read_out_qparams(state, 0..=255)?))
    }

    fn commit_quantized_state(&mut self, staged: StagedState) -> Result<(), StateError> {
        (self.scale, self.zero_point) = staged.downcast::<(f64, i64)>(NAME)?;
        Ok(())
    }
}
