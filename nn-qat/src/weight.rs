//! The `weight_fake_quant` child every QAT module holds, and running it on a weight: helpers
//! shared with the fused QAT modules of `nn-intrinsic`.

use nn::{Child, Module, NnError, Result, Tensor, Value};

/// The child name PyTorch gives the weight's fake-quant module.
pub const WEIGHT_FAKE_QUANT: &str = "weight_fake_quant";

/// Wraps a weight fake-quant module in a child slot named [`WEIGHT_FAKE_QUANT`].
pub fn slot(fq: Box<dyn Module>) -> Child {
    let mut c = Child::from_box(fq);
    c.bind_name(WEIGHT_FAKE_QUANT);
    c
}

/// Runs the weight fake-quant on `w` (the forward of `self.weight_fake_quant(self.weight)`);
/// errors from inside name the child, and a result of another shape is an error naming
/// `owner`.
pub fn apply(fq: &mut Child, owner: &str, w: &Tensor) -> Result<Tensor> {
    let y = fq.forward(Value::Float(w.clone()))?.into_float(owner)?;
    if y.shape() != w.shape() {
        return Err(NnError::bad_arg(
            owner,
            format!(
                "{WEIGHT_FAKE_QUANT} returned shape {:?} for a weight of shape {:?}",
                y.shape(),
                w.shape()
            ),
        ));
    }
    Ok(y)
}

/// A detached copy of `t` as a fresh parameter (`nn.Parameter(t.detach())`).
pub fn fresh_parameter(t: &Tensor) -> Tensor {
    Tensor::parameter(t.to_array())
}

/// The `children` entry of the weight fake-quant.
pub fn child_ref(c: &Child) -> (String, &dyn Module) {
    (WEIGHT_FAKE_QUANT.to_string(), c.module())
}

/// The `child_slots_mut` entry of the weight fake-quant.
pub fn child_slot(c: &mut Child) -> (String, &mut Box<dyn Module>) {
    (WEIGHT_FAKE_QUANT.to_string(), c.slot_mut())
}
