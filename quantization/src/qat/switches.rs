//! The model-wide switches of QAT (`model.apply(torch.ao.quantization.disable_observer)` ...):
//! each visits every module of the tree and returns how many it changed.

use nn::Module;

use super::FakeQuantizeModule;

fn each_fake_quant(model: &mut dyn Module, f: &mut dyn FnMut(&mut FakeQuantizeModule)) -> usize {
    let mut n = 0;
    model.visit_mut(&mut |_, m| {
        if let Some(fq) = m.downcast_mut::<FakeQuantizeModule>() {
            if fq.fake_quantizer().is_some() {
                f(fq);
                n += 1;
            }
        }
    });
    n
}

/// `disable_observer`: stops statistics collection in every fake-quant module of `model`
/// (their scale and zero point stay as they are).
pub fn disable_observer(model: &mut dyn Module) -> usize {
    each_fake_quant(model, &mut |fq| fq.enable_observer(false))
}

/// `enable_observer`: resumes statistics collection in every fake-quant module of `model`.
pub fn enable_observer(model: &mut dyn Module) -> usize {
    each_fake_quant(model, &mut |fq| fq.enable_observer(true))
}

/// `disable_fake_quant`: every fake-quant module of `model` passes values through unchanged.
pub fn disable_fake_quant(model: &mut dyn Module) -> usize {
    each_fake_quant(model, &mut |fq| fq.enable_fake_quant(false))
}

/// `enable_fake_quant`: every fake-quant module of `model` fake-quantizes again.
pub fn enable_fake_quant(model: &mut dyn Module) -> usize {
    each_fake_quant(model, &mut |fq| fq.enable_fake_quant(true))
}
