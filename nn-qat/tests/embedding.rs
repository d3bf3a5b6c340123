//! QAT Embedding and EmbeddingBag: rows of the fake-quantized weight, straight-through
//! gradients into the looked-up rows only.

mod common;

use common::{assert_close, rand, RoundFq};
use nn::functional::BagMode;
use nn::{Module, Tensor, Value};

#[test]
fn embedding_looks_up_fake_quantized_rows() {
    let mut float = nn::Embedding::new(6, 3, Some(5)).unwrap();
    float.weight = Tensor::parameter(rand(&[6, 3], 4));
    let (fq, _) = RoundFq::new(0.1, -5.0, 5.0);
    let reference: Vec<(f32, bool)> = float.weight.to_vec().iter().map(|&v| fq.fq(v)).collect();
    let mut qat = nn_qat::Embedding::from_float(&float, Box::new(fq)).unwrap();
    let idx = [0usize, 3, 3, 5];
    let x = Tensor::from_vec(&[2, 2], idx.iter().map(|&i| i as f32).collect()).unwrap();
    let y = qat
        .forward(Value::Float(x))
        .unwrap()
        .into_float("t")
        .unwrap();
    assert_eq!(y.shape(), [2, 2, 3]);
    let want: Vec<f32> = idx
        .iter()
        .flat_map(|&i| (0..3).map(move |j| i * 3 + j))
        .map(|k| reference[k].0)
        .collect();
    assert_close(&y.to_vec(), &want, 0.0);
    y.sum().backward().unwrap();
    let g = float.weight.grad().unwrap();
    let g = g.as_slice().unwrap();
    for row in 0..6 {
        for j in 0..3 {
            let k = row * 3 + j;
            let count = idx.iter().filter(|&&i| i == row).count() as f32;
            // The padding row gets no gradient, clipped weights none either.
            let want = if row == 5 || !reference[k].1 {
                0.0
            } else {
                count
            };
            assert_eq!(g[k], want, "row {row} col {j}");
        }
    }
    let back = qat.to_float().unwrap();
    assert_eq!(back.weight.to_vec(), float.weight.to_vec());
    assert_eq!(back.padding_idx, Some(5));
    assert_eq!(qat.extra_repr(), "6, 3, padding_idx=5");
}

#[test]
fn embedding_rejects_bad_indices_before_the_fake_quant() {
    let float = nn::Embedding::new(4, 2, None).unwrap();
    let (fq, calls) = RoundFq::new(0.1, -5.0, 5.0);
    let mut qat = nn_qat::Embedding::from_float(&float, Box::new(fq)).unwrap();
    let bad = Tensor::from_vec(&[2], vec![1.0, 4.0]).unwrap();
    assert!(qat.forward(Value::Float(bad)).is_err());
    let frac = Tensor::from_vec(&[1], vec![0.5]).unwrap();
    assert!(qat.forward(Value::Float(frac)).is_err());
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 0);
}

#[test]
fn embedding_bag_sums_fake_quantized_rows() {
    let mut float = nn::EmbeddingBag::new(5, 2, BagMode::Sum);
    float.weight = Tensor::parameter(rand(&[5, 2], 9));
    let (fq, _) = RoundFq::new(0.25, -2.0, 2.0);
    let r: Vec<f32> = float.weight.to_vec().iter().map(|&v| fq.fq(v).0).collect();
    let mut qat = nn_qat::EmbeddingBag::from_float(&float, Box::new(fq)).unwrap();
    let indices = Tensor::from_vec(&[4], vec![0.0, 2.0, 4.0, 4.0]).unwrap();
    let offsets = Tensor::from_vec(&[2], vec![0.0, 1.0]).unwrap();
    let y = qat
        .forward(Value::Tuple(vec![
            Value::Float(indices),
            Value::Float(offsets),
        ]))
        .unwrap()
        .into_float("t")
        .unwrap();
    let want = [r[0], r[1], r[4] + 2.0 * r[8], r[5] + 2.0 * r[9]];
    assert_close(&y.to_vec(), &want, 1e-6);
    let back = qat.to_float().unwrap();
    assert_eq!(back.mode, BagMode::Sum);
    assert_eq!(qat.extra_repr(), "5, 2, mode='sum'");
}
