//! int8 linear and convolution throughput (GOPS = 2 * MACs / s, shown as Gelem/s).
#![allow(missing_docs)] // criterion_group! generates undocumented items
//!
//! `cargo bench -p qkernels-x86 --bench gemm` runs every case with 1 and 2
//! threads on the detected ISA (`QKERNELS_X86_ISA` forces another).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use qkernels_x86::*;
use std::hint::black_box;
use std::time::Duration;

fn data_u8(n: usize, seed: u32) -> Vec<u8> {
    (0..n)
        .map(|i| ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) >> 24) as u8 & 0x7f)
        .collect()
}

fn data_i8(n: usize, seed: u32) -> Vec<i8> {
    (0..n)
        .map(|i| ((i as u32).wrapping_mul(2_246_822_519).wrapping_add(seed) >> 24) as u8 as i8)
        .collect()
}

fn linear(c: &mut Criterion) {
    let mut group = c.benchmark_group("linear");
    group
        .measurement_time(Duration::from_secs(4))
        .sample_size(20);
    for &(m, k, n) in &[(512usize, 2048usize, 2048usize), (1, 4096, 4096)] {
        let w = PackedWeight::pack(
            &data_i8(n * k, 1),
            n,
            k,
            WeightQuant::PerTensor {
                scale: 0.01,
                zero_point: 0,
            },
        )
        .unwrap();
        let x = data_u8(m * k, 2);
        let bias: Vec<f32> = (0..n).map(|j| j as f32 * 0.01).collect();
        group.throughput(Throughput::Elements((2 * m * n * k) as u64));
        for threads in [1, 2] {
            set_num_threads(threads).unwrap();
            let id = BenchmarkId::new(
                format!("{m}x{k}x{n}"),
                format!("{threads}t_{}", active_isa()),
            );
            group.bench_function(id, |b| {
                b.iter(|| {
                    let xm = QuantizedMatrix {
                        data: &x,
                        rows: m,
                        cols: k,
                        qparams: QParams::new(0.02, 3),
                    };
                    quantized_linear(
                        black_box(xm),
                        &w,
                        Some(&bias),
                        QParams::new(0.5, 128),
                        Activation::Identity,
                    )
                    .unwrap()
                })
            });
        }
    }
    group.finish();
}

fn conv(c: &mut Criterion) {
    let mut group = c.benchmark_group("conv");
    group
        .measurement_time(Duration::from_secs(4))
        .sample_size(20);
    // (name, N, C, O, H=W, k, groups)
    for &(name, n, ch, o, hw, k, groups) in &[
        (
            "conv3x3_64x56x56",
            1usize,
            64usize,
            64usize,
            56usize,
            3usize,
            1usize,
        ),
        ("depthwise3x3_256x56x56", 1, 256, 256, 56, 3, 256),
    ] {
        let params = ConvParams {
            padding: vec![1, 1],
            groups,
            ..ConvParams::new(2)
        };
        let w_shape = [o, ch / groups, k, k];
        let wn: usize = w_shape.iter().product();
        let w = PackedConvWeight::pack(
            &data_i8(wn, 3),
            &w_shape,
            WeightQuant::PerTensor {
                scale: 0.01,
                zero_point: 0,
            },
            params,
        )
        .unwrap();
        let x_shape = [n, ch, hw, hw];
        let x = data_u8(x_shape.iter().product(), 4);
        let bias: Vec<f32> = (0..o).map(|j| j as f32 * 0.01).collect();
        let macs = n * o * hw * hw * (ch / groups) * k * k;
        group.throughput(Throughput::Elements(2 * macs as u64));
        for threads in [1, 2] {
            set_num_threads(threads).unwrap();
            let id = BenchmarkId::new(name, format!("{threads}t_{}", active_isa()));
            group.bench_function(id, |b| {
                b.iter(|| {
                    let v = QuantizedTensorView {
                        data: &x,
                        shape: &x_shape,
                        qparams: QParams::new(0.02, 3),
                    };
                    quantized_conv(
                        black_box(v),
                        &w,
                        Some(&bias),
                        QParams::new(0.5, 128),
                        Activation::Relu,
                    )
                    .unwrap()
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, linear, conv);
criterion_main!(benches);
