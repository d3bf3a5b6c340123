//! Saving and loading a converted [`GraphModule`]: its quantization attributes are its
//! [`QuantizedState`] (the modules it calls save their own; float tensor attributes are
//! parameters and buffers, saved through `nn`).
//!
//! | attribute | entries |
//! |---|---|
//! | a scale (`linear_1_scale_0`) | float64 scalar, same name |
//! | a zero point (`linear_1_zero_point_0`) | int64 scalar, same name |
//! | a quantized tensor | quantized, same name |
//! | a packed weight (`linear_1_packed_weight_0`) | `<name>.weight` (quantized), `<name>.bias` (float32, if any); repacked for the current engine on load |

use std::sync::{Arc, Once};

use nn_quantized::functional::{conv_prepack, linear_prepack, PackedWeight};
use nn_quantized::state::{
    check_local_state, register_quantized_state, QStateTensor, QuantizedState, QuantizedStateDict,
    StagedState, StateError,
};

use super::graph_module::GraphModule;
use super::runtime::Attr;

/// Registers [`GraphModule`] for the model-level save / load.
pub(super) fn register() {
    static ONCE: Once = Once::new();
    ONCE.call_once(register_quantized_state::<GraphModule>);
}

fn invalid(key: &str, reason: impl std::fmt::Display) -> StateError {
    StateError::InvalidEntry {
        key: key.to_string(),
        reason: reason.to_string(),
    }
}

fn repack(p: &PackedWeight, name: &str, state: &QuantizedStateDict) -> Result<Attr, StateError> {
    let wkey = format!("{name}.weight");
    let w = state.quantized(&wkey)?;
    let bias = match p.bias() {
        Some(_) => Some(state.f32_values(&format!("{name}.bias"))?),
        None => None,
    };
    let packed = match p.conv_options() {
        Some(o) => conv_prepack(w, bias.as_deref(), o),
        None => linear_prepack(w, bias.as_deref()),
    }
    .map_err(|e| invalid(&wkey, e))?;
    Ok(Attr::Packed(Arc::new(packed)))
}

/// The scales, zero points, quantized tensors and packed weights among the attributes.
impl QuantizedState for GraphModule {
    fn quantized_state(&self) -> Vec<(String, QStateTensor)> {
        let mut out = Vec::new();
        for (name, a) in self.attrs() {
            match a {
                Attr::Float(f) => out.push((name.clone(), QStateTensor::scalar_f64(*f))),
                Attr::Int(i) => out.push((name.clone(), QStateTensor::scalar_i64(*i))),
                Attr::QTensor(q) => out.push((name.clone(), QStateTensor::Quantized(q.clone()))),
                Attr::Packed(p) => {
                    let w = QStateTensor::Quantized(p.weight().clone());
                    out.push((format!("{name}.weight"), w));
                    if let Some(b) = p.bias() {
                        out.push((format!("{name}.bias"), QStateTensor::vector_f32(b)));
                    }
                }
                Attr::Tensor(_) => {}
            }
        }
        out
    }

    fn stage_quantized_state(&self, state: &QuantizedStateDict) -> Result<StagedState, StateError> {
        check_local_state(self, state)?;
        let mut attrs: Vec<(String, Attr)> = Vec::new();
        for (name, a) in self.attrs() {
            let new = match a {
                Attr::Float(_) => {
                    let v = state.f64_scalar(name)?;
                    let ok = if name.contains("scale") {
                        qtensor::check_scale("scale", v).is_ok()
                    } else {
                        v.is_finite()
                    };
                    if !ok {
                        return Err(invalid(name, format!("{v} is not a valid scale")));
                    }
                    Attr::Float(v)
                }
                Attr::Int(_) => Attr::Int(state.i64_scalar(name)?),
                Attr::QTensor(_) => Attr::QTensor(state.quantized(name)?.clone()),
                Attr::Packed(p) => repack(p, name, state)?,
                Attr::Tensor(_) => continue,
            };
            attrs.push((name.clone(), new));
        }
        Ok(StagedState::new(attrs))
    }

    fn commit_quantized_state(&mut self, staged: StagedState) -> Result<(), StateError> {
        for (name, a) in staged.downcast::<Vec<(String, Attr)>>("GraphModule")? {
            self.set_attr(&name, a);
        }
        Ok(())
    }
}
