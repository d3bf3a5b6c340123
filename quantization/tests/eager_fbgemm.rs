//! The same pipeline on the fbgemm engine (per-channel weights, 7-bit activations), in its own
//! test binary so the process-wide engine setting does not change under other tests.

mod eager_model;

use eager_model::{floats, input, Net};
use nn::prelude::*;
use qtensor::{set_engine, Engine, QScheme};
use quantization::eager::{convert, fuse_modules, prepare, QConfigMapping, QuantMapping};
use quantization::{get_default_qconfig, Backend};

#[test]
fn fbgemm_pipeline_uses_per_channel_weights_and_stays_close_to_float() {
    if set_engine(Engine::Fbgemm).is_err() {
        eprintln!("skipped: this build has no fbgemm engine");
        return;
    }
    let mut net = Net::new(8, 10);
    net.eval();
    let x = input(&[4, 3, 8, 8], 0.19);
    let float_y = floats(&net.forward(x.clone()).unwrap());
    fuse_modules(&mut net, &Net::GROUPS).unwrap();
    let mapping = QuantMapping::default_static();
    prepare(
        &mut net,
        &QConfigMapping::global(get_default_qconfig(Backend::Fbgemm)),
        &mapping,
    )
    .unwrap();
    for k in [0.13f32, 0.31, 0.47] {
        net.forward(input(&[4, 3, 8, 8], k)).unwrap();
    }
    convert(&mut net, &mapping).unwrap();
    let conv2 = net.conv2.downcast_ref::<nn_quantized::Conv2d>().unwrap();
    assert_eq!(conv2.core().engine(), Engine::Fbgemm);
    assert_eq!(conv2.core().weight().qscheme(), QScheme::PerChannelAffine);
    let fc2 = net.fc2.downcast_ref::<nn_quantized::Linear>().unwrap();
    let quantum = fc2.scale() as f32;
    let y = floats(&net.forward(x).unwrap());
    for (a, b) in y.iter().zip(&float_y) {
        assert!(
            (a - b).abs() <= 8.0 * quantum,
            "{a} vs float {b} (quantum {quantum})"
        );
    }
}
