//! The model-wide switches of QAT (`model.apply(torch.ao.quantization.disable_observer)` ...):
//! each visits every module of the tree and returns how many it changed.

use nn::Module;

use super::{FakeQuantizeModule, QatPrepared};

fn each_fake_quant(
    model: &mut dyn Module,
    f: &mut dyn FnMut(&mut FakeQuantizeModule) -> bool,
) -> usize {
    let mut n = 0;
    model.visit_mut(&mut |_, m| {
        if let Some(fq) = m.downcast_mut::<FakeQuantizeModule>() {
            if fq.fake_quantizer().is_some() && f(fq) {
                n += 1;
            }
        }
    });
    n
}

/// The module itself, or the module a QAT wrapper holds.
fn unwrapped(m: &mut dyn Module) -> &mut dyn Module {
    if m.is::<QatPrepared>() {
        match m.downcast_mut::<QatPrepared>() {
            Some(p) => p.inner_mut(),
            None => unreachable!("checked with is::<QatPrepared>()"),
        }
    } else {
        m
    }
}

/// `disable_observer`: stops statistics collection in every fake-quant module of `model`
/// (their scale and zero point stay as they are).
pub fn disable_observer(model: &mut dyn Module) -> usize {
    each_fake_quant(model, &mut |fq| {
        fq.enable_observer(false);
        true
    })
}

/// `enable_observer`: resumes statistics collection in every fake-quant module of `model`.
pub fn enable_observer(model: &mut dyn Module) -> usize {
    each_fake_quant(model, &mut |fq| {
        fq.enable_observer(true);
        true
    })
}

/// `disable_fake_quant`: every fake-quant module of `model` passes values through unchanged.
pub fn disable_fake_quant(model: &mut dyn Module) -> usize {
    each_fake_quant(model, &mut |fq| {
        fq.enable_fake_quant(false);
        true
    })
}

/// `enable_fake_quant`: every fake-quant module of `model` fake-quantizes again.
pub fn enable_fake_quant(model: &mut dyn Module) -> usize {
    each_fake_quant(model, &mut |fq| {
        fq.enable_fake_quant(true);
        true
    })
}

/// `enable_param_learning` on every learnable fake quant of `model`: their scale and zero
/// point become trainable parameters, the observers stop.
pub fn enable_param_learning(model: &mut dyn Module) -> usize {
    each_fake_quant(model, &mut FakeQuantizeModule::enable_param_learning)
}

/// `enable_static_estimate` on every learnable fake quant of `model`: the observers set the
/// scale and zero point again.
pub fn enable_static_estimate(model: &mut dyn Module) -> usize {
    each_fake_quant(model, &mut FakeQuantizeModule::enable_static_estimate)
}

fn each_bn_module(model: &mut dyn Module, f: fn(&mut dyn Module) -> bool) -> usize {
    let mut n = 0;
    model.visit_mut(&mut |_, m| {
        if f(unwrapped(m)) {
            n += 1;
        }
    });
    n
}

/// `freeze_bn_stats` on every conv-bn / linear-bn QAT module of `model`: their batch norms use
/// and keep their running statistics, also after `train(true)`.
pub fn freeze_bn_stats(model: &mut dyn Module) -> usize {
    each_bn_module(model, nn_intrinsic::qat::freeze_bn_stats)
}

/// `update_bn_stats` on every conv-bn / linear-bn QAT module of `model`: their batch norms
/// use batch statistics and update their running ones again.
pub fn update_bn_stats(model: &mut dyn Module) -> usize {
    each_bn_module(model, nn_intrinsic::qat::update_bn_stats)
}
