//! HistogramObserver on 1M values with 2048 bins: observe (histogram building) and
//! calculate_qparams (the L2 range search).

#![allow(missing_docs)] // criterion_group! generates an undocumented public function

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use ndarray::{Array1, ArrayD};
use quantization::{HistogramObserver, Observer, UniformOptions};

/// 1M deterministic pseudo-normal values (sum of uniforms from an LCG), widening batch by batch.
fn batch(seed: u64, spread: f32) -> ArrayD<f32> {
    let mut s = seed;
    let mut next = || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 40) as f32 / (1u64 << 24) as f32
    };
    Array1::from_iter((0..1_000_000).map(|_| {
        let u: f32 = (0..4).map(|_| next()).sum::<f32>() - 2.0;
        u * spread
    }))
    .into_dyn()
}

fn bench(c: &mut Criterion) {
    let xs = [batch(1, 1.0), batch(2, 1.5), batch(3, 2.0)];
    c.bench_function("histogram_observe_1M_2048bins_first", |b| {
        b.iter(|| {
            let mut o = HistogramObserver::new(2048, UniformOptions::per_tensor()).unwrap();
            o.observe(black_box(xs[0].view())).unwrap();
            o
        })
    });
    c.bench_function("histogram_observe_1M_2048bins_growing", |b| {
        let mut o = HistogramObserver::new(2048, UniformOptions::per_tensor()).unwrap();
        o.observe(xs[0].view()).unwrap();
        b.iter(|| {
            let mut o = o.clone();
            o.observe(black_box(xs[1].view())).unwrap();
            o
        })
    });
    let mut o = HistogramObserver::new(2048, UniformOptions::per_tensor()).unwrap();
    for x in &xs {
        o.observe(x.view()).unwrap();
    }
    c.bench_function("histogram_calculate_qparams_2048bins", |b| {
        b.iter(|| black_box(&o).calculate_qparams().unwrap())
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = bench
}
criterion_main!(benches);
