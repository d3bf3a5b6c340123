//! The fused QAT modules: the simulated fold against the float layers it stands for, the
//! straight-through weight gradient, frozen statistics, folding, errors.

use ndarray::{ArrayD, IxDyn};
use nn::{
    BatchNorm1d, BatchNorm2d, BatchNorm3d, BatchNormConfig, ConvConfig, Identity, Module, Rng,
    Tensor, Value,
};
use nn_intrinsic::qat::{
    freeze_bn_stats, update_bn_stats, ConvBn1d, ConvBn2d, ConvBn3d, ConvBnReLU2d, ConvReLU2d,
    LinearBn1d, LinearReLU,
};

fn rand(shape: &[usize], seed: u64, lo: f32, hi: f32) -> ArrayD<f32> {
    let mut r = Rng::new(seed);
    let n = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| r.uniform(lo, hi)).collect();
    ArrayD::from_shape_vec(IxDyn(shape), v).unwrap()
}

fn close(a: &[f32], b: &[f32], tol: f32) {
    assert_eq!(a.len(), b.len());
    let max = b.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1.0);
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= tol * max, "element {i}: {x} vs {y}");
    }
}

fn out(m: &mut dyn Module, x: &Tensor) -> Tensor {
    m.forward(Value::Float(x.clone()))
        .unwrap()
        .into_float("t")
        .unwrap()
}

/// Per-tensor fake quant with a fixed scale and the straight-through backward.
struct RoundFq(f32);

impl RoundFq {
    fn fq(&self, v: f32) -> (f32, bool) {
        let q = (v / self.0).round_ties_even();
        (q.clamp(-8.0, 7.0) * self.0, (-8.0..=7.0).contains(&q))
    }
}

impl Module for RoundFq {
    fn type_name(&self) -> &'static str {
        "RoundFq"
    }
    fn forward(&mut self, x: Value) -> nn::Result<Value> {
        let x = x.into_float("RoundFq")?;
        let d = x.data();
        let y = d.mapv(|v| self.fq(v).0);
        let mask = d.mapv(|v| self.fq(v).1);
        Ok(Value::Float(Tensor::from_op(
            "round_fq",
            &[&x],
            y,
            move |g, _| {
                vec![Some(
                    ndarray::Zip::from(g)
                        .and(&mask)
                        .map_collect(|&g, &m| if m { g } else { 0.0 }),
                )]
            },
        )))
    }
    fn is_training(&self) -> bool {
        true
    }
    fn set_training_flag(&mut self, _: bool) {}
}

/// A batch norm with random affine parameters and running statistics.
macro_rules! random_bn {
    ($t:ty, $c:expr, $seed:expr) => {{
        let mut bn = <$t>::with_config(
            $c,
            BatchNormConfig {
                eps: 1e-3,
                momentum: Some(0.2),
                ..Default::default()
            },
        );
        bn.weight = Some(Tensor::parameter(rand(&[$c], $seed, 0.5, 1.5)));
        bn.bias = Some(Tensor::parameter(rand(&[$c], $seed + 1, -0.5, 0.5)));
        bn.running_mean = Some(Tensor::new(rand(&[$c], $seed + 2, -0.2, 0.2)));
        bn.running_var = Some(Tensor::new(rand(&[$c], $seed + 3, 0.5, 2.0)));
        bn
    }};
}

/// A copy of a batch norm with its own tensors.
macro_rules! copy_bn {
    ($t:ty, $bn:expr) => {{
        let src: &$t = $bn;
        let mut bn = <$t>::with_config(src.num_features(), src.config);
        let copy = |t: &Option<Tensor>| t.as_ref().map(|t| Tensor::parameter(t.to_array()));
        bn.weight = copy(&src.weight);
        bn.bias = copy(&src.bias);
        bn.running_mean = src.running_mean.as_ref().map(|t| Tensor::new(t.to_array()));
        bn.running_var = src.running_var.as_ref().map(|t| Tensor::new(t.to_array()));
        bn
    }};
}

/// With an identity weight fake quant, the simulated fold is exactly conv then batch norm
/// (the scale cancels): outputs, every gradient and the running statistics agree with the
/// float layers run one after the other.
macro_rules! identity_fold_case {
    ($name:ident, $qat:ident, $conv:ident, $bn:ident, $rank:expr) => {
        #[test]
        fn $name() {
            let k = vec![3; $rank];
            let conv = nn::$conv::from_config(ConvConfig::new(3, 4, &k).padding(1)).unwrap();
            let bn = random_bn!($bn, 4, 10);
            let ref_conv = nn::$conv::from_parts(
                Tensor::parameter(conv.weight.to_array()),
                conv.bias.as_ref().map(|b| Tensor::parameter(b.to_array())),
                conv.options.clone(),
            )
            .unwrap();
            let ref_bn = copy_bn!($bn, &bn);
            let mut reference = nn::Sequential::new().with(ref_conv).with(ref_bn);
            let mut qat = $qat::from_modules(&conv, &bn, Box::new(Identity::new())).unwrap();
            let mut shape = vec![2, 3];
            shape.extend(vec![5; $rank]);
            for step in 0..2 {
                let x = Tensor::parameter(rand(&shape, 20 + step, -1.0, 1.0));
                let xr = Tensor::parameter(x.to_array());
                let y = out(&mut qat, &x);
                let yr = out(&mut reference, &xr);
                close(&y.to_vec(), &yr.to_vec(), 1e-5);
                let g = rand(&y.shape(), 30 + step, -1.0, 1.0);
                y.backward_with(g.clone()).unwrap();
                yr.backward_with(g).unwrap();
                let grads = |m: &dyn Module| -> Vec<Vec<f32>> {
                    m.parameters()
                        .iter()
                        .map(|p| p.grad().unwrap().iter().copied().collect())
                        .collect()
                };
                for (a, b) in grads(&qat).iter().zip(grads(&reference).iter()) {
                    close(a, b, 1e-4);
                }
                close(
                    x.grad().unwrap().as_slice().unwrap(),
                    xr.grad().unwrap().as_slice().unwrap(),
                    1e-4,
                );
                let stats = |b: &$bn| {
                    (
                        b.running_mean.as_ref().unwrap().to_vec(),
                        b.running_var.as_ref().unwrap().to_vec(),
                    )
                };
                let rb = reference
                    .get(1)
                    .unwrap()
                    .module()
                    .downcast_ref::<$bn>()
                    .unwrap();
                let (m1, v1) = stats(qat.bn().unwrap());
                let (m2, v2) = stats(rb);
                close(&m1, &m2, 1e-5);
                close(&v1, &v2, 1e-5);
                qat.zero_grad();
                reference.zero_grad();
            }
            // The float modules' tensors were shared and updated.
            assert!(qat.weight.same(&conv.weight));
            assert_eq!(
                qat.bn().unwrap().running_mean.as_ref().unwrap().to_vec(),
                bn.running_mean.as_ref().unwrap().to_vec()
            );
            assert_eq!(
                qat.bn()
                    .unwrap()
                    .num_batches_tracked
                    .as_ref()
                    .unwrap()
                    .value(),
                2
            );
        }
    };
}

identity_fold_case!(
    conv_bn1d_with_identity_fake_quant_is_conv_then_bn,
    ConvBn1d,
    Conv1d,
    BatchNorm1d,
    1
);
identity_fold_case!(
    conv_bn2d_with_identity_fake_quant_is_conv_then_bn,
    ConvBn2d,
    Conv2d,
    BatchNorm2d,
    2
);
identity_fold_case!(
    conv_bn3d_with_identity_fake_quant_is_conv_then_bn,
    ConvBn3d,
    Conv3d,
    BatchNorm3d,
    3
);

/// With a rounding fake quant: the output is conv(x, fq(w * s)) / s + b through a
/// batch norm with batch statistics (s = gamma / sqrt(running_var + eps), before the
/// step's update), and the weight gradient is the straight-through one scaled by s.
#[test]
fn conv_bn2d_fake_quantizes_the_scaled_weight() {
    let mut conv = nn::Conv2d::from_config(ConvConfig::new(2, 3, &[3, 3]).padding(1)).unwrap();
    conv.weight = Tensor::parameter(rand(&[3, 2, 3, 3], 1, -0.5, 0.5));
    let bn = random_bn!(BatchNorm2d, 3, 40);
    let bn_for_relu = copy_bn!(BatchNorm2d, &bn);
    let (gamma, rv) = (
        bn.weight.as_ref().unwrap().to_vec(),
        bn.running_var.as_ref().unwrap().to_vec(),
    );
    let s: Vec<f32> = gamma
        .iter()
        .zip(&rv)
        .map(|(g, v)| g / (v + 1e-3f32).sqrt())
        .collect();
    let fq = RoundFq(0.02);
    let w = conv.weight.to_vec();
    let per = w.len() / 3;
    let (wq, mask): (Vec<f32>, Vec<bool>) = w
        .iter()
        .enumerate()
        .map(|(i, &v)| fq.fq(v * s[i / per]))
        .unzip();
    assert!(mask.iter().any(|m| !m), "some scaled weights clip");
    // The reference: the float pipeline on the fake-quantized scaled weight as a leaf.
    let wq_leaf = Tensor::parameter(ArrayD::from_shape_vec(IxDyn(&[3, 2, 3, 3]), wq).unwrap());
    let x = Tensor::parameter(rand(&[2, 2, 4, 4], 2, -1.0, 1.0));
    let xr = Tensor::parameter(x.to_array());
    let mut ref_bn = copy_bn!(BatchNorm2d, &bn);
    let opts = conv.options.clone();
    let bias = conv.bias.as_ref().unwrap().to_vec();
    let y0 = nn::functional::conv2d(&xr, &wq_leaf, None, &opts).unwrap();
    let s_t = Tensor::from_vec(&[1, 3, 1, 1], s.clone()).unwrap();
    let b_t = Tensor::from_vec(&[1, 3, 1, 1], bias).unwrap();
    let y0 = y0.div(&s_t).unwrap().add(&b_t).unwrap();
    let yr = ref_bn
        .forward(Value::Float(y0))
        .unwrap()
        .into_float("t")
        .unwrap();

    let mut qat = ConvBn2d::from_modules(&conv, &bn, Box::new(fq)).unwrap();
    let y = out(&mut qat, &x);
    close(&y.to_vec(), &yr.to_vec(), 1e-5);
    let g = rand(&y.shape(), 3, -1.0, 1.0);
    y.backward_with(g.clone()).unwrap();
    yr.backward_with(g).unwrap();
    close(
        x.grad().unwrap().as_slice().unwrap(),
        xr.grad().unwrap().as_slice().unwrap(),
        1e-4,
    );
    let gq: Vec<f32> = wq_leaf.grad().unwrap().iter().copied().collect();
    let want: Vec<f32> = gq
        .iter()
        .enumerate()
        .map(|(i, &g)| if mask[i] { g * s[i / per] } else { 0.0 })
        .collect();
    close(conv.weight.grad().unwrap().as_slice().unwrap(), &want, 1e-4);
    close(
        &qat.bn().unwrap().running_var.as_ref().unwrap().to_vec(),
        &ref_bn.running_var.as_ref().unwrap().to_vec(),
        1e-6,
    );

    // With ReLU on top (from the same initial statistics).
    let mut relu =
        ConvBnReLU2d::from_modules(&conv, &bn_for_relu, Box::new(RoundFq(0.02))).unwrap();
    let yr2 = out(&mut relu, &x);
    let want: Vec<f32> = yr.to_vec().iter().map(|v| v.max(0.0)).collect();
    close(&yr2.to_vec(), &want, 1e-5);
}

#[test]
fn frozen_statistics_stay_and_match_the_folded_convolution() {
    let conv = nn::Conv2d::from_config(ConvConfig::new(3, 4, &[3, 3]).stride(2)).unwrap();
    let bn = random_bn!(BatchNorm2d, 4, 50);
    let mut qat = ConvBn2d::from_modules(&conv, &bn, Box::new(Identity::new())).unwrap();
    let before = bn.running_var.as_ref().unwrap().to_vec();
    assert!(freeze_bn_stats(&mut qat));
    assert!(qat.is_bn_frozen());
    qat.train(true);
    assert!(
        qat.is_training() && !qat.bn().unwrap().is_training(),
        "train() keeps a frozen bn in eval"
    );
    let x = Tensor::new(rand(&[2, 3, 7, 7], 51, -1.0, 1.0));
    let y = out(&mut qat, &x);
    assert_eq!(bn.running_var.as_ref().unwrap().to_vec(), before);
    let mut folded = qat.fold().unwrap();
    assert!(folded.bias.is_some());
    let yf = out(&mut folded, &x);
    close(&y.to_vec(), &yf.to_vec(), 1e-5);
    // Eval mode of an unfrozen module is the same computation.
    assert!(update_bn_stats(&mut qat));
    assert!(qat.bn().unwrap().is_training());
    qat.eval();
    close(&out(&mut qat, &x).to_vec(), &yf.to_vec(), 1e-5);
    assert_eq!(bn.running_var.as_ref().unwrap().to_vec(), before);
    qat.train(true);
    assert!(qat.bn().unwrap().is_training());
    out(&mut qat, &x);
    assert_ne!(bn.running_var.as_ref().unwrap().to_vec(), before);
    assert!(!freeze_bn_stats(&mut nn::ReLU::new()));
}

#[test]
fn linear_bn1d_with_identity_fake_quant_is_linear_then_bn() {
    let lin = nn::Linear::new(5, 3, true);
    let bn = random_bn!(BatchNorm1d, 3, 60);
    let mut reference = nn::Sequential::new()
        .with(
            nn::Linear::from_parts(
                Tensor::parameter(lin.weight.to_array()),
                lin.bias.as_ref().map(|b| Tensor::parameter(b.to_array())),
            )
            .unwrap(),
        )
        .with(copy_bn!(BatchNorm1d, &bn));
    let mut qat = LinearBn1d::from_modules(&lin, &bn, Box::new(Identity::new())).unwrap();
    let x = Tensor::new(rand(&[6, 5], 61, -1.0, 1.0));
    let y = out(&mut qat, &x);
    let yr = out(&mut reference, &x);
    close(&y.to_vec(), &yr.to_vec(), 1e-5);
    y.sum().backward().unwrap();
    yr.sum().backward().unwrap();
    for (a, b) in qat.parameters().iter().zip(reference.parameters().iter()) {
        close(
            &a.grad().unwrap().iter().copied().collect::<Vec<_>>(),
            &b.grad().unwrap().iter().copied().collect::<Vec<_>>(),
            1e-4,
        );
    }
    qat.eval();
    let mut folded = qat.to_float().unwrap();
    close(
        &out(&mut qat, &x).to_vec(),
        &out(&mut folded, &x).to_vec(),
        1e-5,
    );
    assert_eq!(
        qat.state_dict().keys(),
        [
            "weight",
            "bias",
            "bn.weight",
            "bn.bias",
            "bn.running_mean",
            "bn.running_var",
            "bn.num_batches_tracked"
        ]
    );
    let err = qat
        .forward(Value::Float(Tensor::zeros(&[2, 4])))
        .unwrap_err();
    assert!(err.to_string().contains("(N, 5)"), "{err}");
}

#[test]
fn relu_forms_are_relu_of_the_qat_layer() {
    let conv = nn::Conv2d::from_config(ConvConfig::new(2, 3, &[3, 3])).unwrap();
    let x = Tensor::new(rand(&[1, 2, 5, 5], 70, -1.0, 1.0));
    let mut plain = nn_qat::Conv2d::from_float(&conv, Box::new(RoundFq(0.05))).unwrap();
    let mut fused = ConvReLU2d::from_conv(&conv, Box::new(RoundFq(0.05))).unwrap();
    let want: Vec<f32> = out(&mut plain, &x)
        .to_vec()
        .iter()
        .map(|v| v.max(0.0))
        .collect();
    assert_eq!(out(&mut fused, &x).to_vec(), want);
    assert_eq!(fused.type_name(), "ConvReLU2d");
    assert_eq!(fused.state_dict().keys(), ["weight", "bias"]);

    let lin = nn::Linear::new(4, 3, true);
    let x = Tensor::new(rand(&[2, 4], 71, -1.0, 1.0));
    let mut plain = nn_qat::Linear::from_float(&lin, Box::new(RoundFq(0.05))).unwrap();
    let mut fused = LinearReLU::from_linear(&lin, Box::new(RoundFq(0.05))).unwrap();
    let want: Vec<f32> = out(&mut plain, &x)
        .to_vec()
        .iter()
        .map(|v| v.max(0.0))
        .collect();
    assert_eq!(out(&mut fused, &x).to_vec(), want);
    let err = fused
        .forward(Value::Float(Tensor::zeros(&[2, 5])))
        .unwrap_err();
    assert!(err.to_string().starts_with("LinearReLU"), "{err}");
}

#[test]
fn tree_names_and_constructor_follow_pytorch() {
    let m = ConvBnReLU2d::new(
        ConvConfig::new(2, 3, &[3, 3]).bias(false),
        BatchNormConfig {
            eps: 1e-3,
            momentum: Some(0.01),
            affine: false,
            track_running_stats: false,
        },
        false,
        Box::new(Identity::new()),
    )
    .unwrap();
    let names: Vec<String> = m.named_modules().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["", "bn", "weight_fake_quant"]);
    assert_eq!(
        m.state_dict().keys(),
        [
            "weight",
            "bn.weight",
            "bn.bias",
            "bn.running_mean",
            "bn.running_var",
            "bn.num_batches_tracked"
        ]
    );
    let bn = m.bn().unwrap();
    assert!(bn.config.affine && bn.config.track_running_stats);
    assert_eq!(bn.config.eps, 1e-3);
    let gamma = bn.weight.as_ref().unwrap().to_vec();
    assert!(gamma.iter().all(|g| (0.0..1.0).contains(g)) && gamma.iter().any(|&g| g != gamma[0]));
    assert_eq!(
        m.extra_repr(),
        "2, 3, kernel_size=(3, 3), stride=(1, 1), bias=False"
    );
    let frozen = ConvBn2d::new(
        ConvConfig::new(2, 3, &[1, 1]),
        BatchNormConfig::default(),
        true,
        Box::new(Identity::new()),
    )
    .unwrap();
    assert!(frozen.is_bn_frozen() && !frozen.bn().unwrap().is_training());
}

#[test]
fn bad_batch_norms_and_inputs_are_errors() {
    let conv = nn::Conv2d::new(2, 3, 3).unwrap();
    let not_affine = BatchNorm2d::with_config(
        3,
        BatchNormConfig {
            affine: false,
            ..Default::default()
        },
    );
    assert!(ConvBn2d::from_modules(&conv, &not_affine, Box::new(Identity::new())).is_err());
    let wrong = BatchNorm2d::new(4);
    let err = ConvBn2d::from_modules(&conv, &wrong, Box::new(Identity::new()))
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("4 features for 3 output channels"),
        "{err}"
    );
    let mut m =
        ConvBn2d::from_modules(&conv, &BatchNorm2d::new(3), Box::new(Identity::new())).unwrap();
    let err = m
        .forward(Value::Float(Tensor::zeros(&[1, 3, 5, 5])))
        .unwrap_err();
    assert!(err.to_string().contains("(N, 2, H, W)"), "{err}");
    m.replace_submodule("bn", Box::new(nn::ReLU::new()))
        .unwrap();
    let err = m
        .forward(Value::Float(Tensor::zeros(&[1, 2, 5, 5])))
        .unwrap_err();
    assert!(
        err.to_string().contains("child 'bn' must be a batch norm"),
        "{err}"
    );
    assert!(m.bn().is_err() && m.fold().is_err());
}

/// `from_float` of the fused float modules shares their children; `to_float` folds the batch
/// norm with the running statistics and gives back the fused float form.
#[test]
fn from_and_to_the_fused_float_modules() {
    let conv = nn::Conv2d::from_config(ConvConfig::new(2, 3, &[3, 3]).padding(1)).unwrap();
    let bn = random_bn!(BatchNorm2d, 3, 80);
    let x = Tensor::new(rand(&[2, 2, 4, 4], 81, -1.0, 1.0));
    let mut float = nn_intrinsic::ConvBnReLU2d::new(
        nn::Conv2d::from_parts(conv.weight.clone(), conv.bias.clone(), conv.options.clone())
            .unwrap(),
        copy_bn!(BatchNorm2d, &bn),
        nn::ReLU::new(),
    );
    float.eval();
    let want = out(&mut float, &x).to_vec();
    let qat = ConvBnReLU2d::from_float(&float, Box::new(Identity::new())).unwrap();
    assert!(qat.weight.same(&conv.weight));
    let mut back = qat.to_float().unwrap();
    assert_eq!(back.type_name(), "ConvReLU2d");
    back.eval();
    close(&out(&mut back, &x).to_vec(), &want, 1e-5);
    // A fused module whose children were replaced is refused.
    float
        .replace_submodule("1", Box::new(Identity::new()))
        .unwrap();
    let err = ConvBnReLU2d::from_float(&float, Box::new(Identity::new()))
        .err()
        .unwrap();
    assert!(
        err.to_string()
            .contains("child 1 of the fused ConvBnReLU2d is not a BatchNorm2d"),
        "{err}"
    );

    let lin = nn::Linear::new(4, 3, true);
    let mut float = nn_intrinsic::LinearReLU::new(
        nn::Linear::from_parts(lin.weight.clone(), lin.bias.clone()).unwrap(),
        nn::ReLU::new(),
    );
    let x = Tensor::new(rand(&[2, 4], 82, -1.0, 1.0));
    let want = out(&mut float, &x).to_vec();
    let qat = LinearReLU::from_float(&float, Box::new(Identity::new())).unwrap();
    let mut back = qat.to_float().unwrap();
    assert_eq!(out(&mut back, &x).to_vec(), want);

    let bn1 = random_bn!(BatchNorm1d, 3, 83);
    let mut float = nn_intrinsic::LinearBn1d::new(
        nn::Linear::from_parts(lin.weight.clone(), lin.bias.clone()).unwrap(),
        copy_bn!(BatchNorm1d, &bn1),
    );
    float.eval();
    let want = out(&mut float, &x).to_vec();
    let qat = LinearBn1d::from_float(&float, Box::new(Identity::new())).unwrap();
    let mut folded = qat.to_float().unwrap();
    close(&out(&mut folded, &x).to_vec(), &want, 1e-5);
}
