//! `fuse_modules` / `fuse_modules_qat`: every pattern gives the float model's outputs back
//! (batch norm folded with PyTorch's formula), bad groups are typed errors that change nothing.

mod eager_model;

use eager_model::{floats, input, types, wave, Net};
use nn::prelude::*;
use nn::{
    BatchNorm1d, BatchNorm2d, BatchNorm3d, Conv1d, Conv2d, Conv3d, ConvTranspose2d, Linear, ReLU,
};
use quantization::eager::{fuse_modules, fuse_modules_qat, EagerError};

fn with_stats(bn: &Option<Tensor>, c: usize, k: f32, off: f32) {
    bn.as_ref()
        .unwrap()
        .set_data(wave(&[c], k).mapv(|x| off + 0.3 * x.abs()))
        .unwrap();
}

macro_rules! stats {
    ($bn:expr, $c:expr) => {{
        let b = $bn;
        with_stats(&b.weight, $c, 0.7, 0.8);
        with_stats(&b.bias, $c, 0.3, -0.1);
        with_stats(&b.running_mean, $c, 1.1, 0.05);
        with_stats(&b.running_var, $c, 0.9, 0.5);
        b
    }};
}

/// Fuses `groups` of `model` in eval mode and checks the output is unchanged (1e-5 relative to
/// the largest magnitude) and the expected types sit at each path.
fn check_fusion(mut model: Sequential, x: Value, groups: &[&[&str]], want: &[(&str, &str)]) {
    model.eval();
    let before = floats(&model.forward(x.clone()).unwrap());
    fuse_modules(&mut model, groups).unwrap();
    let after = floats(&model.forward(x).unwrap());
    let max = before.iter().fold(0f32, |m, v| m.max(v.abs()));
    for (a, b) in before.iter().zip(&after) {
        assert!((a - b).abs() <= 1e-5 * max.max(1.0), "{a} vs {b}");
    }
    for (path, ty) in want {
        assert_eq!(
            model.get_submodule(path).unwrap().type_name(),
            *ty,
            "at {path}"
        );
    }
}

#[test]
fn every_eval_pattern_keeps_the_outputs() {
    check_fusion(
        Sequential::new()
            .with(Conv2d::new(3, 4, 3).unwrap())
            .with(stats!(BatchNorm2d::new(4), 4))
            .with(ReLU::new()),
        input(&[2, 3, 6, 6], 0.3),
        &[&["0", "1", "2"]],
        &[
            ("0", "ConvReLU2d"),
            ("0.0", "Conv2d"),
            ("0.1", "ReLU"),
            ("1", "Identity"),
            ("2", "Identity"),
        ],
    );
    check_fusion(
        Sequential::new()
            .with(Conv1d::new(2, 3, 3).unwrap())
            .with(stats!(BatchNorm1d::new(3), 3)),
        input(&[2, 2, 9], 0.4),
        &[&["0", "1"]],
        &[("0", "Conv1d"), ("1", "Identity")],
    );
    check_fusion(
        Sequential::new()
            .with(Conv3d::new(2, 3, 2).unwrap())
            .with(stats!(BatchNorm3d::new(3), 3))
            .with(ReLU::new()),
        input(&[1, 2, 4, 4, 4], 0.2),
        &[&["0", "1", "2"]],
        &[("0", "ConvReLU3d")],
    );
    check_fusion(
        Sequential::new()
            .with(Linear::new(5, 4, true))
            .with(stats!(BatchNorm1d::new(4), 4)),
        input(&[3, 5], 0.6),
        &[&["0", "1"]],
        &[("0", "Linear"), ("1", "Identity")],
    );
    check_fusion(
        Sequential::new()
            .with(Linear::new(5, 4, true))
            .with(ReLU::new()),
        input(&[3, 5], 0.6),
        &[&["0", "1"]],
        &[("0", "LinearReLU")],
    );
    check_fusion(
        Sequential::new()
            .with(stats!(BatchNorm2d::new(3), 3))
            .with(ReLU::new()),
        input(&[2, 3, 3, 3], 0.8),
        &[&["0", "1"]],
        &[("0", "BNReLU2d")],
    );
    check_fusion(
        Sequential::new()
            .with(stats!(BatchNorm3d::new(2), 2))
            .with(ReLU::new()),
        input(&[1, 2, 2, 3, 3], 0.8),
        &[&["0", "1"]],
        &[("0", "BNReLU3d")],
    );
    check_fusion(
        Sequential::new()
            .with(Conv1d::new(2, 3, 3).unwrap())
            .with(ReLU::new()),
        input(&[1, 2, 7], 0.5),
        &[&["0", "1"]],
        &[("0", "ConvReLU1d")],
    );
    let convt = ConvTranspose2d::from_config(nn::ConvConfig::new(3, 2, &[3, 3]).stride(2)).unwrap();
    check_fusion(
        Sequential::new()
            .with(convt)
            .with(stats!(BatchNorm2d::new(2), 2)),
        input(&[1, 3, 4, 4], 0.35),
        &[&["0", "1"]],
        &[("0", "ConvTranspose2d")],
    );
}

#[test]
fn user_model_groups_fuse_in_place() {
    let mut net = Net::new(8, 10);
    net.eval();
    let x = input(&[2, 3, 8, 8], 0.21);
    let before = floats(&net.forward(x.clone()).unwrap());
    fuse_modules(&mut net, &Net::GROUPS).unwrap();
    let after = floats(&net.forward(x).unwrap());
    for (a, b) in before.iter().zip(&after) {
        assert!((a - b).abs() <= 1e-5 * a.abs().max(1.0), "{a} vs {b}");
    }
    assert_eq!(net.conv1.type_name(), "ConvReLU2d");
    assert_eq!(net.conv2.type_name(), "Conv2d");
    assert_eq!(net.fc1.type_name(), "LinearReLU");
    for id in [&net.bn1, &net.relu1, &net.bn2, &net.relu3] {
        assert_eq!(id.type_name(), "Identity");
        assert!(!id.is_training());
    }
}

#[test]
fn bad_groups_are_typed_errors_and_change_nothing() {
    let mut net = Net::new(4, 3);
    net.eval();
    let before = types(&net);
    // A valid first group, then an unknown pattern: the first group is undone.
    let err = fuse_modules(&mut net, &[&["conv1", "bn1", "relu1"], &["fc1", "conv2"]]).unwrap_err();
    match &err {
        EagerError::UnsupportedFusion { types, known, .. } => {
            assert_eq!(types, &["Linear", "Conv2d"]);
            assert!(known.contains("(Conv2d, BatchNorm2d, ReLU)"), "{known}");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(types(&net), before);
    let err = fuse_modules(&mut net, &[&["conv1", "bn9"]]).unwrap_err();
    assert!(matches!(err, EagerError::NoSuchModule(_)), "{err:?}");
    assert_eq!(types(&net), before);
    // Training mode: PyTorch's "Fusion only for eval!".
    net.train(true);
    let err = fuse_modules(&mut net, &[&["conv2", "bn2"]]).unwrap_err();
    assert!(err.to_string().contains("Fusion only for eval"), "{err}");
    assert_eq!(types(&net), before);
    // Mixed modes.
    net.bn2.eval();
    let err = fuse_modules(&mut net, &[&["conv2", "bn2"]]).unwrap_err();
    assert!(err.to_string().contains("same mode"), "{err}");
    // A batch norm whose channels do not match the convolution.
    let mut seq = Sequential::new()
        .with(Conv2d::new(3, 4, 3).unwrap())
        .with(BatchNorm2d::new(5));
    seq.eval();
    assert!(matches!(
        fuse_modules(&mut seq, &[&["0", "1"]]),
        Err(EagerError::Fusion { .. })
    ));
    assert_eq!(seq.get(0).unwrap().type_name(), "Conv2d");
}

#[test]
fn qat_fusion_keeps_the_batch_norm() {
    let mut net = Net::new(4, 3);
    net.train(true);
    fuse_modules_qat(&mut net, &Net::GROUPS).unwrap();
    assert_eq!(net.conv1.type_name(), "ConvBnReLU2d");
    assert_eq!(net.conv2.type_name(), "ConvBn2d");
    assert_eq!(net.fc1.type_name(), "LinearReLU");
    assert_eq!(
        net.get_submodule("conv2.1").unwrap().type_name(),
        "BatchNorm2d"
    );
    let mut seq = Sequential::new()
        .with(Linear::new(3, 4, true))
        .with(BatchNorm1d::new(4));
    fuse_modules_qat(&mut seq, &[&["0", "1"]]).unwrap();
    assert_eq!(seq.get(0).unwrap().type_name(), "LinearBn1d");
    let mut seq = Sequential::new()
        .with(ConvTranspose2d::new(3, 2, 3).unwrap())
        .with(BatchNorm2d::new(2));
    let err = fuse_modules_qat(&mut seq, &[&["0", "1"]]).unwrap_err();
    assert!(
        err.to_string().contains("not yet supported in QAT"),
        "{err}"
    );
}
