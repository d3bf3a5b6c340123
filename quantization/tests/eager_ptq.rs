//! prepare / calibrate / convert on a user's derive-Module CNN (qnnpack engine): observer
//! placement and names as PyTorch's, observed parameters used by the quantized modules, the
//! converted model close to the float one, printed as PyTorch prints it.

mod eager_model;

use eager_model::{floats, input, types, Net};
use nn::prelude::*;
use qtensor::{set_engine, Engine};
use quantization::eager::{
    add_quant_dequant, convert, fuse_modules, prepare, quantize, remove_observers, unwrap_prepared,
    ObserverModule, QConfigMapping, QuantMapping,
};
use quantization::{get_default_qconfig, Backend};

fn setup() -> (Net, QuantMapping, QConfigMapping) {
    set_engine(Engine::Qnnpack).unwrap();
    let mut net = Net::new(8, 10);
    net.eval();
    fuse_modules(&mut net, &Net::GROUPS).unwrap();
    (
        net,
        QuantMapping::default_static(),
        QConfigMapping::global(get_default_qconfig(Backend::Qnnpack)),
    )
}

fn calibrate(net: &mut Net) {
    for k in [0.11f32, 0.23, 0.37] {
        net.forward(input(&[4, 3, 8, 8], k)).unwrap();
    }
}

fn observer<'a>(net: &'a Net, name: &str) -> &'a ObserverModule {
    net.get_submodule(&format!("{name}.activation_post_process"))
        .unwrap()
        .downcast_ref::<ObserverModule>()
        .unwrap()
}

#[test]
fn observers_sit_where_pytorch_puts_them() {
    let (mut net, mapping, spec) = setup();
    let x = input(&[2, 3, 8, 8], 0.3);
    let float_y = floats(&net.forward(x.clone()).unwrap());
    let report = prepare(&mut net, &spec, &mapping).unwrap();
    let mut names = report.observers.clone();
    names.sort();
    let want = ["conv1", "conv2", "fc1", "fc2", "quant", "skip"]
        .map(|n| format!("{n}.activation_post_process"));
    assert_eq!(names, want);
    assert!(report.notices.is_empty(), "{:?}", report.notices);
    // Same names through the module tree; the wrapped modules keep their type names.
    for n in ["quant", "conv1", "conv2", "fc1", "fc2", "skip"] {
        assert_eq!(observer(&net, n).type_name(), "HistogramObserver");
    }
    assert_eq!(net.conv1.type_name(), "ConvReLU2d");
    assert!(net.get_submodule("conv1.0").unwrap().is::<nn::Conv2d>());
    assert!(net
        .get_submodule("dequant.activation_post_process")
        .is_err());
    assert!(net.get_submodule("relu2.activation_post_process").is_err());
    assert!(net.get_submodule("bn1.activation_post_process").is_err());
    // Observers pass values through: the prepared model computes the float model's output.
    assert_eq!(floats(&net.forward(x).unwrap()), float_y);
    assert!(net
        .repr()
        .contains("(activation_post_process): HistogramObserver("));
    // Preparing twice is refused without changing anything.
    let before = types(&net);
    assert!(prepare(&mut net, &spec, &mapping).is_err());
    assert_eq!(types(&net), before);
}

#[test]
fn convert_uses_the_observed_parameters_and_stays_close_to_float() {
    let (mut net, mapping, spec) = setup();
    let x = input(&[4, 3, 8, 8], 0.29);
    let float_y = floats(&net.forward(x.clone()).unwrap());
    prepare(&mut net, &spec, &mapping).unwrap();
    calibrate(&mut net);
    let q = |n: &str| observer(&net, n).calculate_qparams().unwrap();
    let (conv1_q, out_q, skip_q) = (q("conv1"), q("fc2"), q("skip"));
    let report = convert(&mut net, &mapping).unwrap();
    assert!(report.notices.is_empty(), "{:?}", report.notices);
    let swapped: Vec<(&str, &str)> = report
        .swapped
        .iter()
        .map(|(p, _, to)| (p.as_str(), to.as_str()))
        .collect();
    for pair in [
        ("quant", "Quantize"),
        ("conv1", "QuantizedConvReLU2d"),
        ("conv2", "QuantizedConv2d"),
        ("skip", "QFunctional"),
        ("fc1", "QuantizedLinearReLU"),
        ("fc2", "QuantizedLinear"),
        ("dequant", "DeQuantize"),
    ] {
        assert!(swapped.contains(&pair), "{pair:?} not in {swapped:?}");
    }
    let c1 = net
        .conv1
        .downcast_ref::<nn_intrinsic::quantized::ConvReLU2d>()
        .unwrap();
    assert_eq!(c1.core().scale(), f64::from(conv1_q.scales[0]));
    assert_eq!(
        c1.core().zero_point(),
        conv1_q.zero_points.as_int().unwrap()[0]
    );
    let skip = net
        .skip
        .downcast_ref::<nn_quantized::QFunctional>()
        .unwrap();
    assert_eq!(skip.scale(), f64::from(skip_q.scales[0]));
    // No observers or wrappers are left.
    assert!(net
        .named_modules()
        .iter()
        .all(|(p, m)| !p.ends_with("activation_post_process") || m.type_name() == "Identity"));
    // The int8 model's output is within a few output quanta of the float output.
    let y = floats(&net.forward(x).unwrap());
    let quantum = out_q.scales[0];
    for (a, b) in y.iter().zip(&float_y) {
        assert!(
            (a - b).abs() <= 6.0 * quantum,
            "{a} vs float {b} (quantum {quantum})"
        );
    }
    let printed = net.repr();
    let conv1_line = format!(
        "(conv1): QuantizedConvReLU2d(3, 8, kernel_size=(3, 3), stride=(1, 1), scale={}, zero_point={}, padding=(1, 1))",
        nn_quantized::modules::util::py_float(f64::from(conv1_q.scales[0])),
        conv1_q.zero_points.as_int().unwrap()[0]
    );
    assert!(printed.contains(&conv1_line), "{printed}");
    assert!(
        printed.contains("(quant): Quantize(scale=tensor(["),
        "{printed}"
    );
    assert!(printed.contains("(dequant): DeQuantize()"), "{printed}");
}

#[test]
fn convert_before_calibration_uses_pytorch_defaults_with_notices() {
    let (mut net, mapping, spec) = setup();
    prepare(&mut net, &spec, &mapping).unwrap();
    let report = convert(&mut net, &mapping).unwrap();
    let noticed: Vec<&str> = report.notices.iter().map(|n| n.path.as_str()).collect();
    for p in ["quant", "conv1", "conv2", "skip", "fc1", "fc2"] {
        assert!(noticed.contains(&p), "no notice for {p}: {noticed:?}");
    }
    let c2 = net.conv2.downcast_ref::<nn_quantized::Conv2d>().unwrap();
    assert_eq!((c2.core().scale(), c2.core().zero_point()), (1.0, 0));
}

#[test]
fn a_switched_off_subtree_stays_float_and_the_missing_dequant_is_named() {
    let (mut net, mapping, spec) = setup();
    let spec = spec.set_path("fc2", None);
    prepare(&mut net, &spec, &mapping).unwrap();
    assert!(net.get_submodule("fc2.activation_post_process").is_err());
    calibrate(&mut net);
    convert(&mut net, &mapping).unwrap();
    assert!(net.fc2.is::<nn::Linear>());
    // fc1's quantized output now reaches the float fc2: the error names it and the fix.
    let err = net.forward(input(&[1, 3, 8, 8], 0.5)).unwrap_err();
    assert_eq!(err.module_path(), Some("fc2"));
    match err.root() {
        NnError::QuantizedInput { module, fix, .. } => {
            assert_eq!(module, "Linear");
            assert!(fix.contains("DeQuantStub"), "{fix}");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn a_float_tensor_reaching_a_quantized_module_is_named() {
    set_engine(Engine::Qnnpack).unwrap();
    let mapping = QuantMapping::default_static();
    let spec = QConfigMapping::global(get_default_qconfig(Backend::Qnnpack));
    // No QuantStub in front of the convolution.
    let mut seq = Sequential::new()
        .with(nn::Conv2d::new(3, 4, 3).unwrap())
        .with(nn::ReLU::new());
    seq.eval();
    prepare(&mut seq, &spec, &mapping).unwrap();
    seq.forward(input(&[1, 3, 5, 5], 0.2)).unwrap();
    convert(&mut seq, &mapping).unwrap();
    let err = seq.forward(input(&[1, 3, 5, 5], 0.2)).unwrap_err();
    assert_eq!(err.module_path(), Some("0"));
    match err.root() {
        NnError::FloatInput { module, fix } => {
            assert_eq!(module, "QuantizedConv2d");
            assert!(fix.contains("QuantStub"), "{fix}");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn quantize_in_one_call_and_a_failing_calibration_changes_nothing() {
    let (mut net, _, spec) = setup();
    let x = input(&[2, 3, 8, 8], 0.41);
    let float_y = floats(&net.forward(x.clone()).unwrap());
    net.train(true);
    let before = types(&net);
    let err = quantize(
        &mut net,
        |m| {
            m.forward(input(&[2, 3, 8, 8], 0.1))?;
            m.forward(input(&[2, 5, 8, 8], 0.1)).map(|_| ())
        },
        &spec,
    )
    .unwrap_err();
    assert!(err.to_string().contains("calibration failed"), "{err}");
    assert_eq!(types(&net), before);
    assert!(net.named_modules().iter().all(|(_, m)| m.is_training()));
    net.eval();
    assert_eq!(floats(&net.forward(x.clone()).unwrap()), float_y);
    let report = quantize(
        &mut net,
        |m| {
            calibrate(m);
            Ok(())
        },
        &spec,
    )
    .unwrap();
    assert_eq!(report.swapped.len(), 7);
    assert!(net.conv1.is::<nn_intrinsic::quantized::ConvReLU2d>());
}

#[test]
fn remove_observers_and_add_quant_dequant() {
    let (mut net, mapping, spec) = setup();
    let before = types(&net);
    prepare(&mut net, &spec, &mapping).unwrap();
    assert!(unwrap_prepared(net.conv1.module()).is::<nn_intrinsic::ConvReLU2d>());
    remove_observers(&mut net);
    assert_eq!(types(&net), before);

    set_engine(Engine::Qnnpack).unwrap();
    let mut seq = Sequential::new()
        .with(nn::Linear::new(4, 3, true))
        .with(nn::Tanh::new());
    seq.eval();
    let wrapped = add_quant_dequant(&mut seq, &spec).unwrap();
    assert_eq!(wrapped, ["0", "1"]);
    assert_eq!(seq.get(0).unwrap().type_name(), "QuantWrapper");
    prepare(&mut seq, &spec, &mapping).unwrap();
    seq.forward(input(&[5, 4], 0.3)).unwrap();
    convert(&mut seq, &mapping).unwrap();
    assert_eq!(
        seq.get_submodule("0.module").unwrap().type_name(),
        "QuantizedLinear"
    );
    assert_eq!(
        seq.get_submodule("0.quant").unwrap().type_name(),
        "Quantize"
    );
    // The float Tanh runs on the quantized tensor with the engine's kernel.
    let y = seq.forward(input(&[2, 4], 0.3)).unwrap();
    assert_eq!(y.shape(), Some(vec![2, 3]));
}
