//! state_dict / load_state_dict with PyTorch's names, and safetensors round trips.

mod common;

use common::rand;
use nn::prelude::*;
use nn::{
    BatchNorm2d, Conv2d, ConvConfig, Flatten, Linear, LoadReport, NnError, ReLU, StateDict,
    StateTensor,
};
use safetensors::{tensor::TensorView, Dtype};

fn model(seed: u64) -> Sequential {
    nn::manual_seed(seed);
    Sequential::new()
        .with(Conv2d::from_config(ConvConfig::new(2, 3, &[3, 3]).padding(1)).unwrap())
        .with(BatchNorm2d::new(3))
        .with(ReLU::new())
        .with(Flatten::new())
        .with(Linear::new(3 * 4 * 4, 5, true))
}

fn run(m: &mut Sequential, x: &Tensor) -> Vec<f32> {
    m.forward(Value::Float(x.clone()))
        .unwrap()
        .into_float("test")
        .unwrap()
        .to_vec()
}

#[test]
fn keys_order_and_shapes_follow_pytorch() {
    let m = model(1);
    let sd = m.state_dict();
    assert_eq!(
        sd.keys(),
        [
            "0.weight",
            "0.bias",
            "1.weight",
            "1.bias",
            "1.running_mean",
            "1.running_var",
            "1.num_batches_tracked",
            "4.weight",
            "4.bias"
        ]
    );
    assert_eq!(sd.get("0.weight").unwrap().shape(), [3, 2, 3, 3]);
    assert_eq!(
        sd.get("1.num_batches_tracked").unwrap(),
        &StateTensor::I64(ndarray::arr0(0i64).into_dyn())
    );
    assert_eq!(
        sd.sub("1").keys(),
        [
            "weight",
            "bias",
            "running_mean",
            "running_var",
            "num_batches_tracked"
        ]
    );
}

#[test]
fn safetensors_round_trip_reproduces_the_model() {
    let mut a = model(1);
    // Train-mode forwards change the running statistics and the batch counter.
    a.forward(Value::Float(rand(&[4, 2, 4, 4], 5))).unwrap();
    a.forward(Value::Float(rand(&[4, 2, 4, 4], 6))).unwrap();
    a.eval();
    let bytes = a.state_dict().to_safetensors().unwrap();
    let sd = StateDict::from_safetensors(&bytes).unwrap();
    let mut b = model(2);
    b.eval();
    let x = rand(&[2, 2, 4, 4], 7);
    assert_ne!(run(&mut a, &x), run(&mut b, &x));
    assert_eq!(b.load_state_dict(&sd, true).unwrap(), LoadReport::default());
    assert_eq!(run(&mut a, &x), run(&mut b, &x));
    let n = b.get_submodule("1").unwrap().local_buffers()[2]
        .1
        .as_int()
        .unwrap()
        .value();
    assert_eq!(n, 2);
    // Through a file as well.
    let path =
        std::env::temp_dir().join(format!("nn-state-dict-{}.safetensors", std::process::id()));
    a.state_dict().save(&path).unwrap();
    let loaded = StateDict::load(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(loaded.get("4.weight"), a.state_dict().get("4.weight"));
}

#[test]
fn reads_files_written_by_other_tools() {
    // A file built directly with the safetensors crate, as `safetensors.torch.save_file` writes
    // one: f32 parameters, an i64 scalar counter, a f64 tensor.
    let w: Vec<u8> = [1.0f32, -2.0, 0.5, 4.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let n: Vec<u8> = 7i64.to_le_bytes().to_vec();
    let d: Vec<u8> = [0.25f64, 8.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let views = vec![
        (
            "fc.weight",
            TensorView::new(Dtype::F32, vec![2, 2], &w).unwrap(),
        ),
        (
            "bn.num_batches_tracked",
            TensorView::new(Dtype::I64, vec![], &n).unwrap(),
        ),
        ("fc.bias", TensorView::new(Dtype::F64, vec![2], &d).unwrap()),
    ];
    let bytes = safetensors::serialize(views, None).unwrap();
    let sd = StateDict::from_safetensors(&bytes).unwrap();
    assert_eq!(
        sd.get("fc.weight")
            .unwrap()
            .to_f32()
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        [1.0, -2.0, 0.5, 4.0]
    );
    assert_eq!(
        sd.get("fc.bias")
            .unwrap()
            .to_f32()
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        [0.25, 8.0]
    );
    assert_eq!(
        sd.get("bn.num_batches_tracked")
            .unwrap()
            .to_i64()
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        [7]
    );
    let u8s = [1u8, 2];
    let bad = safetensors::serialize(
        vec![("x", TensorView::new(Dtype::U8, vec![2], &u8s).unwrap())],
        None,
    )
    .unwrap();
    let err = StateDict::from_safetensors(&bad).unwrap_err();
    assert!(err.to_string().contains("x: dtype U8"), "{err}");
    assert!(StateDict::from_safetensors(&[1, 2, 3]).is_err());
}

#[test]
fn bad_state_dicts_report_every_problem_and_change_nothing() {
    let mut m = model(1);
    let before = m.state_dict();
    let mut sd = model(3).state_dict();
    sd.remove("0.bias");
    sd.remove("1.running_var");
    sd.insert(
        "extra.weight",
        StateTensor::F32(ndarray::ArrayD::zeros(vec![2])),
    );
    sd.insert(
        "4.weight",
        StateTensor::F32(ndarray::ArrayD::zeros(vec![5, 47])),
    );
    let err = m.load_state_dict(&sd, true).unwrap_err();
    match &err {
        NnError::StateDict {
            missing,
            unexpected,
            mismatched,
        } => {
            assert_eq!(missing, &["0.bias", "1.running_var"]);
            assert_eq!(unexpected, &["extra.weight"]);
            assert_eq!(mismatched.len(), 1);
            assert_eq!(mismatched[0].0, "4.weight");
        }
        other => panic!("unexpected error {other}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("missing keys: 0.bias, 1.running_var")
            && msg.contains("unexpected keys: extra.weight")
            && msg.contains("4.weight (model [5, 48], given [5, 47])"),
        "{msg}"
    );
    assert_eq!(m.state_dict(), before);
    // Non-strict: shapes still must match.
    assert!(m.load_state_dict(&sd, false).is_err());
    assert_eq!(m.state_dict(), before);
    sd.remove("4.weight");
    let report = m.load_state_dict(&sd, false).unwrap();
    assert_eq!(report.missing, ["0.bias", "1.running_var", "4.weight"]);
    assert_eq!(report.unexpected, ["extra.weight"]);
    assert_eq!(m.state_dict().get("0.weight"), sd.get("0.weight"));
    assert_eq!(m.state_dict().get("0.bias"), before.get("0.bias"));
}
