//! `FakeQuantizeModule`: the fake quant as a differentiable module (straight-through and
//! learnable gradients), and the model-wide switches.

mod common;

use common::Lcg;
use ndarray::ArrayD;
use nn::{Module, Tensor, Value};
use quantization::fake_quantize::defaults;
use quantization::qat::{
    disable_fake_quant, disable_observer, enable_fake_quant, enable_observer, FakeQuantizeModule,
};
use quantization::{
    get_default_qat_qconfig, Backend, FakeQuantizeSpec, FakeQuantizer, LearnableFakeQuantize,
    ObserverSpec, QConfigEntry, ZeroPoints,
};

fn run(m: &mut dyn Module, x: &Tensor) -> Tensor {
    m.forward(Value::Float(x.clone()))
        .unwrap()
        .into_float("t")
        .unwrap()
}

/// Reference fake quantization of one value with its straight-through mask.
fn reference_fq(x: f32, s: f32, zp: i64, qmin: i64, qmax: i64) -> (f32, bool) {
    let q = zp as f32 + (x * (1.0 / s)).round_ties_even();
    let inside = q >= qmin as f32 && q <= qmax as f32;
    ((q.clamp(qmin as f32, qmax as f32) - zp as f32) * s, inside)
}

#[test]
fn straight_through_gradient_is_the_in_range_mask() {
    let mut rng = Lcg(3);
    for backend in [Backend::Fbgemm, Backend::Qnnpack] {
        let spec = get_default_qat_qconfig(backend).weight;
        let mut module = FakeQuantizeModule::from_entry(&spec).unwrap();
        let QConfigEntry::FakeQuantize(s) = &spec else {
            panic!("a fake quant entry")
        };
        let mut twin = s.build().unwrap();
        for step in 0..3 {
            let x = Tensor::parameter(rng.tensor(&[4, 3, 2], 1.0 + step as f32, 0.1));
            let y = run(module.as_mut(), &x);
            let want = twin.forward(x.data().view()).unwrap();
            assert_eq!(
                y.to_array(),
                want.y,
                "the module's output is the fake quant's"
            );
            let g = rng.tensor(&[4, 3, 2], 1.0, 0.0);
            y.backward_with(g.clone()).unwrap();
            let (scales, zps) = (twin.scale(), twin.zero_point());
            let zps = zps.as_int().unwrap().to_vec();
            let (qmin, qmax) = twin.quant_range();
            let per = x.len() / 4;
            let grad = x.grad().unwrap();
            for (i, ((&xv, &gv), &got)) in x.data().iter().zip(&g).zip(grad.iter()).enumerate() {
                let c = if scales.len() == 1 { 0 } else { i / per };
                let (yv, inside) = reference_fq(xv, scales[c], zps[c], qmin, qmax);
                assert_eq!(y.to_vec()[i], yv);
                assert_eq!(got, if inside { gv } else { 0.0 }, "element {i}");
            }
        }
        assert_eq!(module.type_name(), "FusedMovingAvgObsFakeQuantize");
    }
}

#[test]
fn disabled_fake_quant_is_the_identity_and_observers_pass_values_through() {
    let mut m = FakeQuantizeModule::from_spec(&defaults::default_fake_quant()).unwrap();
    m.enable_fake_quant(false);
    let x = Tensor::parameter(Lcg(5).tensor(&[10], 3.0, 0.0));
    let y = run(&mut m, &x);
    assert!(y.same(&x), "PyTorch returns X itself");
    assert!(
        m.fake_quantizer().unwrap().observer().max_val()[0] > 0.0,
        "still observing"
    );

    let mut obs =
        FakeQuantizeModule::from_entry(&QConfigEntry::Observer(ObserverSpec::min_max())).unwrap();
    let y = run(obs.as_mut(), &x);
    assert!(y.same(&x));
    let o = obs.downcast_ref::<FakeQuantizeModule>().unwrap();
    let max = x.to_vec().iter().fold(f32::MIN, |m, &v| m.max(v));
    assert_eq!(o.observer_ref().max_val(), vec![max]);
    assert_eq!(obs.type_name(), "MinMaxObserver");
    assert_eq!(
        FakeQuantizeModule::from_entry(&QConfigEntry::Identity)
            .unwrap()
            .type_name(),
        "Identity"
    );
}

fn learnable_spec(per_channel: bool) -> FakeQuantizeSpec {
    let observer = if per_channel {
        defaults::default_per_channel_weight_fake_quant()
            .observer()
            .clone()
    } else {
        defaults::default_fake_quant().observer().clone()
    };
    FakeQuantizeSpec::Learnable {
        observer,
        scale: 0.1,
        zero_point: 0.0,
        channel_len: per_channel.then_some(3),
        use_grad_scaling: true,
    }
}

/// The learnable module's gradients with respect to the input, scale and zero point are
/// the fake quant's own `backward` on the same step.
#[test]
fn learnable_gradients_reach_scale_and_zero_point() {
    let mut rng = Lcg(9);
    for per_channel in [false, true] {
        let spec = learnable_spec(per_channel);
        let mut m = FakeQuantizeModule::from_spec(&spec).unwrap();
        let mut twin = spec.build().unwrap();
        // One static-estimate step: the observer sets the parameters; they do not require grad.
        let x = Tensor::new(rng.tensor(&[3, 8], 1.0, 0.3));
        run(&mut m, &x);
        twin.forward(x.data().view()).unwrap();
        let params = m.parameters();
        assert_eq!(params.len(), 2);
        assert_eq!(params[0].to_vec(), twin.scale());
        assert!(!params[0].requires_grad());
        // Learning: the tensors are parameters of the model.
        assert!(m.enable_param_learning());
        let lf = twin
            .as_any_mut()
            .downcast_mut::<LearnableFakeQuantize>()
            .unwrap();
        lf.enable_param_learning();
        assert!(m.parameters()[0].requires_grad());
        let x = Tensor::parameter(rng.tensor(&[3, 8], 2.0, 0.3));
        let y = run(&mut m, &x);
        let want = lf.forward(x.data().view()).unwrap();
        assert_eq!(y.to_array(), want.y);
        let g = rng.tensor(&[3, 8], 1.0, 0.0);
        y.backward_with(g.clone()).unwrap();
        let grads = lf.backward(g.view()).unwrap();
        assert_eq!(x.grad().unwrap(), grads.grad_x);
        let p = m.parameters();
        assert_eq!(
            p[0].grad().unwrap().iter().copied().collect::<Vec<_>>(),
            grads.grad_scale
        );
        assert_eq!(
            p[1].grad().unwrap().iter().copied().collect::<Vec<_>>(),
            grads.grad_zero_point
        );
        assert!(grads.grad_scale.iter().any(|&v| v != 0.0));
        // An optimizer step on the tensors is what the next forward uses (scale clamped at eps).
        p[0].update_data(|d| d.mapv_inplace(|s| s * 1.5));
        p[0].update_data(|d| d[0] = -1.0);
        let x = Tensor::new(rng.tensor(&[3, 8], 1.0, 0.0));
        let y = run(&mut m, &x);
        let fq = m.fake_quantizer().unwrap();
        assert_eq!(fq.scale()[0], f32::EPSILON);
        assert_eq!(m.parameters()[0].to_vec()[0], f32::EPSILON);
        let ZeroPoints::Float(zp) = fq.zero_point() else {
            panic!("float zero points")
        };
        let mut check = spec.build().unwrap();
        let lc = check
            .as_any_mut()
            .downcast_mut::<LearnableFakeQuantize>()
            .unwrap();
        lc.enable_param_learning();
        lc.set_params(&fq.scale(), &zp).unwrap();
        assert_eq!(y.to_array(), lc.forward(x.data().view()).unwrap().y);
        assert!(m.enable_static_estimate());
        assert!(!m.parameters()[0].requires_grad());
    }
    let mut plain = FakeQuantizeModule::from_spec(&defaults::default_fake_quant()).unwrap();
    assert!(!plain.enable_param_learning());
    assert!(plain.parameters().is_empty());
    assert!(plain.set_learnable_params(&[1.0], &[0.0]).is_err());
}

#[test]
fn switches_reach_every_fake_quant_of_a_model() {
    let qconfig = get_default_qat_qconfig(Backend::Fbgemm);
    let fq = || FakeQuantizeModule::from_entry(&qconfig.weight).unwrap();
    let float = nn::Linear::new(4, 3, true);
    let act = FakeQuantizeModule::from_entry(&qconfig.activation).unwrap();
    let mut model = nn::Sequential::new();
    model.push(Box::new(nn_qat::Linear::from_float(&float, fq()).unwrap()));
    model.push(act);
    model.push(Box::new(nn::ReLU::new()));
    let x = Tensor::new(Lcg(2).tensor(&[5, 4], 1.0, 0.0));
    assert_eq!(disable_fake_quant(&mut model), 2);
    let y = run(&mut model, &x);
    let mut plain = nn::Sequential::new()
        .with(nn::Linear::from_parts(float.weight.clone(), float.bias.clone()).unwrap())
        .with(nn::ReLU::new());
    assert_eq!(y.to_vec(), run(&mut plain, &x).to_vec());
    assert_eq!(enable_fake_quant(&mut model), 2);
    assert_ne!(run(&mut model, &x).to_vec(), y.to_vec());
    assert_eq!(disable_observer(&mut model), 2);
    let fqm = model
        .get_submodule("0.weight_fake_quant")
        .unwrap()
        .downcast_ref::<FakeQuantizeModule>()
        .unwrap();
    assert!(!fqm.fake_quantizer().unwrap().observer_enabled());
    assert_eq!(enable_observer(&mut model), 2);
    let _: ArrayD<f32> = x.to_array();
}
