//! Graph mode on models written as plain eager code: a residual branch, a cat and functional
//! relus quantize without changes; a section skipped with a `None` qconfig stays float with
//! dequantize / quantize at its borders; dynamic and weight-only quantization; bad input.

mod fx_common;

use fx_common::*;
use nn::functional as F;
use nn::prelude::*;
use nn::{BatchNorm2d, Forward, Linear, Sequential};
use quantization::fx::{
    convert_fx, fuse_fx, get_default_qconfig_mapping, prepare_fx, symbolic_trace, Function,
    FxError, GraphModule, OpCode, QConfigMapping, Stage,
};
use quantization::qconfig::default_dynamic_qconfig;
use quantization::{Backend, QConfig, QConfigEntry};

#[derive(Module)]
struct Branchy {
    conv1: Child,
    conv2: Child,
    conv3: Child,
    fc: Child,
}

impl Forward for Branchy {
    fn forward_impl(&mut self, x: Value) -> nn::Result<Value> {
        let n = "Branchy";
        let y = F::relu(&self.conv1.forward(x)?.into_float(n)?);
        let a = self.conv2.forward(Value::Float(y.clone()))?.into_float(n)?;
        let r = F::relu(&a.add(&y)?);
        let b = self.conv3.forward(Value::Float(y))?.into_float(n)?;
        let c = Tensor::cat(&[r, b], 1)?;
        let p = F::flatten(&F::max_pool2d(&c, &F::Pool2dOptions::new(2))?, 1, -1)?;
        self.fc.forward(Value::Float(p))
    }
}

fn branchy() -> Branchy {
    nn::manual_seed(11);
    let mut m = Branchy {
        conv1: conv(3, 4),
        conv2: conv(4, 4),
        conv3: conv(4, 4),
        fc: Child::new(Linear::new(8 * 3 * 3, 5, true)),
    };
    m.eval();
    m
}

fn batches(n: usize) -> Vec<Value> {
    nn::manual_seed(5);
    (0..n)
        .map(|_| Value::Float(Tensor::randn(&[4, 3, 6, 6])))
        .collect()
}

fn out(m: &mut dyn Module, x: &Value) -> Vec<f32> {
    m.forward(x.clone())
        .unwrap()
        .into_float("out")
        .unwrap()
        .to_vec()
}

fn targets(gm: &GraphModule) -> Vec<String> {
    gm.graph()
        .nodes()
        .filter(|n| n.op != OpCode::GetAttr)
        .map(|n| n.target.to_string())
        .collect()
}

fn quantize(m: Branchy, mapping: &QConfigMapping, engine: qtensor::Engine) -> GraphModule {
    qtensor::set_engine(engine).unwrap();
    let cal = batches(4);
    let mut p = prepare_fx(m, mapping, &cal[..1]).unwrap();
    for b in &cal {
        p.forward(b.clone()).unwrap();
    }
    convert_fx(p).unwrap()
}

#[test]
fn residual_cat_and_functional_relu_quantize_unchanged() {
    for engine in [qtensor::Engine::Fbgemm, qtensor::Engine::Qnnpack] {
        let mut float = branchy();
        let x = batches(1).remove(0);
        let want = out(&mut float, &x);
        let mut q = quantize(
            branchy(),
            &get_default_qconfig_mapping(Backend::from(engine)),
            engine,
        );
        assert_eq!(
            targets(&q),
            [
                "x",
                "torch.quantize_per_tensor",
                "conv1",
                "conv2",
                "torch.ops.quantized.add_relu",
                "conv3",
                "torch.cat",
                "torch.nn.functional.max_pool2d",
                "torch.flatten",
                "fc",
                "dequantize",
                "output"
            ],
            "{}",
            q.graph()
        );
        assert_eq!(
            q.get_submodule("conv1").unwrap().type_name(),
            "QuantizedConvReLU2d"
        );
        let got = out(&mut q, &x);
        let range = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let err = max_diff(&got, &want);
        assert!(
            err < 0.05 * range,
            "{engine}: int8 error {err} vs output range {range}"
        );
    }
}

#[test]
fn a_skipped_module_stays_float_between_dequantize_and_quantize() {
    let engine = qtensor::Engine::Qnnpack;
    let mapping = get_default_qconfig_mapping(Backend::Qnnpack).set_module_name("conv3", None);
    let mut q = quantize(branchy(), &mapping, engine);
    let g = q.graph();
    let conv3 = g.find("conv3").unwrap();
    let input = g.get(conv3).unwrap().inputs()[0];
    assert!(g.get(input).unwrap().is_method("dequantize"), "{g}");
    let users = g.users(conv3);
    assert_eq!(users.len(), 1);
    assert!(
        g.get(users[0])
            .unwrap()
            .is_function(Function::QuantizePerTensor),
        "{g}"
    );
    assert_eq!(q.get_submodule("conv3").unwrap().type_name(), "Conv2d");
    assert_eq!(
        q.get_submodule("conv2").unwrap().type_name(),
        "QuantizedConv2d"
    );
    let x = batches(1).remove(0);
    let mut float = branchy();
    let want = out(&mut float, &x);
    let got = out(&mut q, &x);
    let range = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(max_diff(&got, &want) < 0.05 * range);
    // Skipping a function by type: the add stays float, its relu too.
    let mapping = get_default_qconfig_mapping(Backend::Qnnpack)
        .set_object_type(Function::Add, None)
        .set_object_type(Function::Relu, None);
    let q = quantize(branchy(), &mapping, engine);
    let t = targets(&q);
    assert!(t.contains(&"operator.add".to_string()), "{}", q.graph());
    assert!(!t.iter().any(|n| n.contains("add_relu")));
}

#[test]
fn dynamic_quantization_matches_pytorch() {
    for case in fixtures()["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "e2e_dynamic")
    {
        let engine: qtensor::Engine = case["params"]["engine"].as_str().unwrap().parse().unwrap();
        qtensor::set_engine(engine).unwrap();
        let s: Vec<usize> = case["params"]["sizes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        let mut mlp = Sequential::new()
            .with(Linear::new(s[0], s[1], true))
            .with(nn::ReLU::new())
            .with(Linear::new(s[1], s[2], true));
        mlp.load_state_dict(&state_dict(&case["inputs"]["state_dict"]), true)
            .unwrap();
        mlp.eval();
        let x = Value::Float(Tensor::new(f32_tensor(&case["inputs"]["x"])));
        let mapping = QConfigMapping::new().set_global(Some(default_dynamic_qconfig()));
        let p = prepare_fx(mlp, &mapping, std::slice::from_ref(&x)).unwrap();
        // Dynamic quantization observes nothing.
        assert!(!p
            .graph()
            .nodes()
            .any(|n| n.target.to_string().starts_with("activation_post_process")));
        let mut q = convert_fx(p).unwrap();
        // The linears become the dynamic modules (linear-relu fused first), as PyTorch's.
        assert_eq!(
            q.get_submodule("0").unwrap().type_name(),
            "DynamicQuantizedLinearReLU"
        );
        assert_eq!(
            q.get_submodule("2").unwrap().type_name(),
            "DynamicQuantizedLinear"
        );
        assert!(!q.graph().nodes().any(|n| n.is_method("dequantize")));
        let y = out(&mut q, &x);
        let want: Vec<f32> = f32_tensor(&case["expected"]["y"]).iter().copied().collect();
        let range = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(
            max_diff(&y, &want) <= 1e-4 * range.max(1.0),
            "{}: {} vs range {range}",
            case["name"],
            max_diff(&y, &want)
        );
    }
}

#[derive(Module)]
struct FunctionalLinear {
    w: Tensor,
    b: Tensor,
}

impl Forward for FunctionalLinear {
    fn forward_impl(&mut self, x: Value) -> nn::Result<Value> {
        let x = x.into_float("FunctionalLinear")?;
        Ok(Value::Float(F::linear(&x, &self.w, Some(&self.b))?))
    }
}

#[test]
fn a_functional_linear_is_quantized_dynamically() {
    qtensor::set_engine(qtensor::Engine::Fbgemm).unwrap();
    nn::manual_seed(8);
    let lin = Linear::new(5, 3, true);
    let m = FunctionalLinear {
        w: lin.weight.clone(),
        b: lin.bias.clone().unwrap(),
    };
    let mut module = Sequential::new().with(lin);
    let x = Value::Float(Tensor::randn(&[4, 5]));
    let mapping = QConfigMapping::new().set_global(Some(default_dynamic_qconfig()));
    let mut q = convert_fx(prepare_fx(m, &mapping, std::slice::from_ref(&x)).unwrap()).unwrap();
    assert!(
        q.graph()
            .nodes()
            .any(|n| n.is_function(Function::QLinearDynamic)),
        "{}",
        q.graph()
    );
    // The same weights as a module through quantize_dynamic give the same result.
    quantization::dynamic::quantize_dynamic(
        &mut module,
        &quantization::dynamic::DynamicSpec::Default,
        nn_quantized_dynamic::WeightDType::QInt8,
    )
    .unwrap();
    assert_eq!(out(&mut q, &x), out(&mut module, &x));
}

#[test]
fn weight_only_quantization_uses_the_quantized_weight_in_float() {
    nn::manual_seed(2);
    let lin = Linear::new(6, 3, true);
    let w = lin.weight.to_vec();
    let b = lin.bias.clone().unwrap();
    let model = Sequential::new().with(lin);
    let x = Tensor::randn(&[2, 6]);
    let qconfig = QConfig::new(
        QConfigEntry::Identity,
        QConfigEntry::Observer(quantization::observer::defaults::default_weight_observer()),
    );
    let mapping = QConfigMapping::new().set_global(Some(qconfig));
    let p = prepare_fx(model, &mapping, &[Value::Float(x.clone())]).unwrap();
    let mut q = convert_fx(p).unwrap();
    // Reference: per-tensor symmetric qint8 (MinMax): scale = max|w| / 127.5, zero point 0.
    let amax = w.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let scale = amax / 127.5;
    let dq: Vec<f32> = w
        .iter()
        .map(|v| (v / scale).round().clamp(-128.0, 127.0) * scale)
        .collect();
    let wq = Tensor::from_vec(&[3, 6], dq).unwrap();
    let want = F::linear(&x, &wq, Some(&b)).unwrap().to_vec();
    let got = out(&mut q, &Value::Float(x));
    assert!(max_diff(&got, &want) < 1e-5, "{got:?} vs {want:?}");
    assert_eq!(q.get_submodule("0").unwrap().type_name(), "Linear");
}

#[test]
fn fuse_fx_folds_batch_norm_and_keeps_the_function() {
    let mut m = fixture_model(&cases("e2e_fx_ptq")[0]);
    let x = Value::Float(Tensor::new(f32_tensor(
        &cases("e2e_fx_ptq")[0]["inputs"]["x"],
    )));
    let want = out(&mut m, &x);
    let mut fused = fuse_fx(m, std::slice::from_ref(&x)).unwrap();
    assert_eq!(fused.stage(), Stage::Fused);
    let names: Vec<(String, &str)> = fused
        .named_modules()
        .into_iter()
        .skip(1)
        .map(|(p, m)| (p, m.type_name()))
        .filter(|(p, _)| !p.contains('.'))
        .collect();
    assert_eq!(
        names,
        [
            ("conv1".to_string(), "ConvReLU2d"),
            ("conv2".to_string(), "Conv2d"),
            ("fc1".to_string(), "LinearReLU"),
            ("fc2".to_string(), "Linear")
        ]
    );
    let got = out(&mut fused, &x);
    let range = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(max_diff(&got, &want) <= 1e-5 * range);
    // A fused graph module goes on through prepare_fx and convert_fx like the model itself,
    // and gives the same int8 result.
    qtensor::set_engine(qtensor::Engine::Qnnpack).unwrap();
    let mapping = get_default_qconfig_mapping(Backend::Qnnpack);
    let run = |m: GraphModule| {
        let mut c = convert_fx({
            let mut p = m;
            p.forward(x.clone()).unwrap();
            p
        })
        .unwrap();
        out(&mut c, &x)
    };
    let via_fused = run(prepare_fx(fused, &mapping, std::slice::from_ref(&x)).unwrap());
    let direct = run(prepare_fx(
        fixture_model(&cases("e2e_fx_ptq")[0]),
        &mapping,
        std::slice::from_ref(&x),
    )
    .unwrap());
    assert_eq!(via_fused, direct);
    // A prepared graph module cannot be prepared again.
    let p = prepare_fx(
        fixture_model(&cases("e2e_fx_ptq")[0]),
        &mapping,
        std::slice::from_ref(&x),
    )
    .unwrap();
    let r = prepare_fx(p, &mapping, std::slice::from_ref(&x)).unwrap_err();
    assert!(matches!(r.error, FxError::State(_)));
    assert_eq!(r.into_model().stage(), Stage::Prepared);
}

#[test]
fn bad_input_is_a_typed_error_and_the_model_comes_back() {
    // Training mode: conv-bn cannot be folded.
    let mut m = fixture_model(&cases("e2e_fx_ptq")[0]);
    m.train(true);
    let x = Value::Float(Tensor::new(f32_tensor(
        &cases("e2e_fx_ptq")[0]["inputs"]["x"],
    )));
    let before = m.state_dict();
    let r = prepare_fx(
        m,
        &get_default_qconfig_mapping(Backend::Qnnpack),
        std::slice::from_ref(&x),
    )
    .unwrap_err();
    assert!(
        matches!(r.error, FxError::Unsupported { .. }),
        "{}",
        r.error
    );
    let m = r.into_model();
    assert_eq!(m.conv1.type_name(), "Conv2d");
    assert_eq!(m.bn1.type_name(), "BatchNorm2d");
    assert_eq!(m.state_dict().keys(), before.keys());
    // A qint8 activation qconfig is refused by name; the model comes back with its modules.
    let mut m = m;
    m.eval();
    let signed = quantization::qconfig::default_symmetric_qnnpack_qconfig();
    let r = prepare_fx(
        m,
        &QConfigMapping::new().set_global(Some(signed)),
        std::slice::from_ref(&x),
    )
    .unwrap_err();
    assert!(
        matches!(&r.error, FxError::QConfig { reason, .. } if reason.contains("qint8")),
        "{}",
        r.error
    );
    let mut m = r.into_model();
    assert_eq!(m.conv1.type_name(), "Conv2d");
    assert!(m.forward(x.clone()).is_ok());
    // Missing example inputs.
    let r = prepare_fx(m, &get_default_qconfig_mapping(Backend::Qnnpack), &[]).unwrap_err();
    assert!(matches!(r.error, FxError::MissingExampleInputs { .. }));
    // convert_fx on a model that was not prepared.
    let traced = symbolic_trace(r.into_model(), std::slice::from_ref(&x)).unwrap();
    let r = convert_fx(traced).unwrap_err();
    assert!(matches!(r.error, FxError::State(_)), "{}", r.error);
    assert_eq!(r.into_model().stage(), Stage::Traced);
}

#[derive(Module)]
struct ComputedWeight {
    bn: Child,
    w: Tensor,
}

impl Forward for ComputedWeight {
    fn forward_impl(&mut self, x: Value) -> nn::Result<Value> {
        let x = self.bn.forward(x)?.into_float("m")?;
        let x = F::flatten(&x, 1, -1)?;
        Ok(Value::Float(F::linear(&x, &self.w.mul_scalar(2.0), None)?))
    }
}

#[test]
fn an_unsupported_pattern_fails_convert_and_leaves_the_prepared_model_usable() {
    qtensor::set_engine(qtensor::Engine::Qnnpack).unwrap();
    let mut m = ComputedWeight {
        bn: Child::new(BatchNorm2d::new(2)),
        w: Tensor::parameter(Tensor::randn(&[3, 8]).to_array()),
    };
    m.eval();
    let x = Value::Float(Tensor::randn(&[1, 2, 2, 2]));
    let mut p = prepare_fx(
        m,
        &get_default_qconfig_mapping(Backend::Qnnpack),
        std::slice::from_ref(&x),
    )
    .unwrap();
    p.forward(x.clone()).unwrap();
    let r = convert_fx(p).unwrap_err();
    assert!(
        matches!(&r.error, FxError::Unsupported { reason, .. } if reason.contains("weight")),
        "{}",
        r.error
    );
    let mut p = r.into_model();
    assert_eq!(p.stage(), Stage::Prepared);
    assert!(p.forward(x).is_ok());
}

#[derive(Module)]
struct Activations {
    conv: Child,
    fc: Child,
    w: Tensor,
    b: Tensor,
}

impl Forward for Activations {
    fn forward_impl(&mut self, x: Value) -> nn::Result<Value> {
        let n = "Activations";
        let y = self.conv.forward(x)?.into_float(n)?;
        let h = F::hardswish(&y);
        let s = F::sigmoid(&y);
        let m = h.mul(&s)?.add_scalar(0.25);
        let p = F::avg_pool2d(&m, &F::Pool2dOptions::new(2))?;
        let r = p.reshape(&[-1, 4 * 3 * 3])?;
        let t = F::linear(&r, &self.w, Some(&self.b))?.tanh();
        let l = F::leaky_relu(&t, 0.1);
        self.fc.forward(Value::Float(l))
    }
}

#[test]
fn functionals_become_quantized_operators() {
    for engine in [qtensor::Engine::Fbgemm, qtensor::Engine::Qnnpack] {
        qtensor::set_engine(engine).unwrap();
        nn::manual_seed(4);
        let make = || {
            nn::manual_seed(4);
            let mut m = Activations {
                conv: conv(3, 4),
                fc: Child::new(Linear::new(6, 2, true)),
                w: Tensor::parameter(Tensor::randn(&[6, 36]).mul_scalar(0.2).to_array()),
                b: Tensor::parameter(Tensor::randn(&[6]).to_array()),
            };
            m.eval();
            m
        };
        let cal = batches(3);
        let mut float = make();
        let want = out(&mut float, &cal[0]);
        let mapping = get_default_qconfig_mapping(Backend::from(engine));
        let mut p = prepare_fx(make(), &mapping, &cal[..1]).unwrap();
        for b in &cal {
            p.forward(b.clone()).unwrap();
        }
        let mut q = convert_fx(p).unwrap();
        let t = targets(&q);
        for op in [
            "torch.ops.quantized.hardswish",
            "torch.sigmoid",
            "torch.ops.quantized.mul",
            "torch.ops.quantized.add_scalar",
            "torch.nn.functional.avg_pool2d",
            "reshape",
            "torch.ops.quantized.linear",
            "tanh",
            "torch.ops.quantized.leaky_relu",
        ] {
            assert!(
                t.iter().any(|n| n == op),
                "{engine}: no {op} in\n{}",
                q.graph()
            );
        }
        assert_eq!(
            t.iter().filter(|n| *n == "dequantize").count(),
            1,
            "{}",
            q.graph()
        );
        let got = out(&mut q, &cal[0]);
        let range = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let err = max_diff(&got, &want);
        assert!(
            err < 0.05 * range.max(0.1),
            "{engine}: error {err} vs range {range}"
        );
    }
}
