#![allow(missing_docs)] // criterion_group! generates an undocumented function
//! Dynamic LSTM (qint8 on each engine, float16) against float LSTMs of the same size, at the
//! shared suite's sizes (seq 32, batch 8, 256 -> 512; seq 16, batch 1, 512 -> 512), on one and
//! two threads.
//!
//! Two float baselines: `nn::LSTM` (the workspace's float module, run without autograd), and
//! `fp32_same_algorithm`: the dynamic module's algorithm on float32 products (the input-to-hidden
//! product of the whole sequence as one `nn::functional::linear` call, then per step the
//! hidden-to-hidden product and the same cell equations, [`equations::lstm_update`]), which
//! isolates what int8 products gain over float ones.

use std::collections::BTreeMap;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use ndarray::{Array3, ArrayD, IxDyn};
use nn::{Module, Tensor};
use nn_quantized_dynamic::{equations, Float16Weights, RnnOptions, LSTM};
use qtensor::Engine;

/// The suite's LSTM sizes `(seq, batch, input, hidden)`.
const SIZES: [(usize, usize, usize, usize); 2] = [(32, 8, 256, 512), (16, 1, 512, 512)];

fn weights(input: usize, hidden: usize) -> BTreeMap<String, ArrayD<f32>> {
    let bound = 1.0 / (hidden as f32).sqrt();
    let mut sd = BTreeMap::new();
    for (name, shape) in [
        ("weight_ih_l0", vec![4 * hidden, input]),
        ("weight_hh_l0", vec![4 * hidden, hidden]),
        ("bias_ih_l0", vec![4 * hidden]),
        ("bias_hh_l0", vec![4 * hidden]),
    ] {
        sd.insert(
            name.to_string(),
            Tensor::rand_uniform(&shape, -bound, bound).to_array(),
        );
    }
    sd
}

/// The float LSTM: one layer, zero initial state; returns the output sequence.
fn float_lstm(x: &Tensor, sd: &[Tensor; 4], seq: usize, batch: usize, hidden: usize) -> Vec<f32> {
    let [w_ih, w_hh, b_ih, b_hh] = sd;
    let flat = x.reshape(&[(seq * batch) as isize, -1]).expect("reshape");
    let proj = nn::functional::linear(&flat, w_ih, Some(b_ih))
        .expect("ih")
        .to_vec();
    let mut h = vec![0.0f32; batch * hidden];
    let mut c = vec![0.0f32; batch * hidden];
    let mut out = Vec::with_capacity(seq * batch * hidden);
    let step = batch * 4 * hidden;
    for t in 0..seq {
        let ht =
            Tensor::new(ArrayD::from_shape_vec(IxDyn(&[batch, hidden]), h.clone()).expect("h"));
        let mut hh = nn::functional::linear(&ht, w_hh, Some(b_hh))
            .expect("hh")
            .to_vec();
        equations::lstm_update(
            &mut hh,
            &proj[t * step..(t + 1) * step],
            &mut h,
            &mut c,
            hidden,
        );
        out.extend_from_slice(&h);
    }
    out
}

fn bench(c: &mut Criterion) {
    for threads in [1, 2] {
        bench_threads(c, threads);
    }
    bench_equations(c);
}

fn bench_threads(c: &mut Criterion, threads: usize) {
    nn::set_num_threads(threads).expect("threads");
    set_qkernel_threads(threads);
    nn::manual_seed(0);
    let mut group = c.benchmark_group(format!("lstm_{threads}t"));
    group.sample_size(20);
    for &(seq, batch, input, hidden) in &SIZES {
        let shape = format!("{seq}x{batch}x{input}->{hidden}");
        let sd = weights(input, hidden);
        let x = Tensor::randn(&[seq, batch, input]);
        let x3: Array3<f32> = x.to_array().into_dimensionality().expect("3-D");
        let float_params = ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
            .map(|n| Tensor::new(sd[n].clone()));
        group.bench_function(BenchmarkId::new("fp32_same_algorithm", &shape), |b| {
            b.iter(|| float_lstm(&x, &float_params, seq, batch, hidden))
        });
        let mut nn_lstm = nn::LSTM::new(nn::RnnConfig::new(input, hidden)).expect("nn LSTM");
        for (name, p) in nn_lstm.local_parameters() {
            p.set_data(sd[&name].clone()).expect("same shapes");
        }
        nn_lstm.eval();
        group.bench_function(BenchmarkId::new("fp32_nn", &shape), |b| {
            b.iter(|| {
                nn::no_grad(|| {
                    nn_lstm
                        .forward(nn::Value::Float(x.clone()))
                        .expect("forward")
                })
            })
        });
        let half = LSTM::from_state_dict(RnnOptions::new(input, hidden), &sd, &Float16Weights)
            .expect("float16 LSTM");
        group.bench_function(BenchmarkId::new("dynamic_float16", &shape), |b| {
            b.iter(|| half.run(x3.view(), None).expect("run"))
        });
        for engine in [Engine::Fbgemm, Engine::Qnnpack] {
            if qtensor::set_engine(engine).is_err() {
                continue;
            }
            let qc = quantization::qconfig::default_dynamic_qconfig();
            let lstm = LSTM::from_state_dict(RnnOptions::new(input, hidden), &sd, &qc)
                .expect("dynamic LSTM");
            group.bench_function(BenchmarkId::new(format!("dynamic_{engine}"), &shape), |b| {
                b.iter(|| lstm.run(x3.view(), None).expect("run"))
            });
        }
    }
    group.finish();
}

/// The cell equations alone, one step of the large suite size.
fn bench_equations(c: &mut Criterion) {
    let (batch, hidden) = (8, 512);
    let ih: Vec<f32> = (0..batch * 4 * hidden)
        .map(|i| ((i % 97) as f32 - 48.0) * 0.05)
        .collect();
    let hh0: Vec<f32> = ih.iter().rev().copied().collect();
    c.bench_function("equations/lstm_update/8x512", |b| {
        let (mut h, mut cs) = (vec![0.1f32; batch * hidden], vec![0.2f32; batch * hidden]);
        b.iter(|| {
            let mut hh = hh0.clone();
            equations::lstm_update(&mut hh, &ih, &mut h, &mut cs, hidden);
        })
    });
}

/// The int8 kernels' thread count (the float GEMM's is set through `nn`).
fn set_qkernel_threads(threads: usize) {
    #[cfg(target_arch = "x86_64")]
    qkernels_x86::set_num_threads(threads).expect("threads");
}

criterion_group!(benches, bench);
criterion_main!(benches);
