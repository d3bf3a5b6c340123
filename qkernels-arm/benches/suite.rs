//! The benchmark suite's linear and conv2d shapes (as `cargo xtask bench` and PyTorch's
//! baseline script run them) timed directly on the kernels, for quick comparisons of paths:
//!
//! `cargo bench -p qkernels-arm --bench suite -- [FILTER] [--path NAME]... [--min-time S] [--nhwc]`
//!
//! (`--nhwc` feeds the convolutions channels-last input, which they compute in without any
//! layout copy.)
//!
//! Prints GOPS per shape and path (default: the active path), from the wall clock and from the
//! time the thread spent on a CPU (Linux `/proc/thread-self/schedstat`; on a machine shared
//! with other work the second compares kernels more steadily). Weights are quantized per tensor
//! with scale 0.01 and zero point 0, activations with scale 0.05 and zero point 64, outputs
//! with scale 0.1 and zero point 64, as in the suite.

use std::time::Instant;

use qkernels_arm::{
    ConvParams, ConvWeights, Kernels, Layout, LinearWeights, OutputSpec, Path, QView, U8Quant,
    WeightQuant,
};

const LINEAR: &[(usize, usize, usize)] = &[
    (1, 768, 768),
    (1, 4096, 4096),
    (16, 1024, 1024),
    (64, 768, 3072),
    (128, 1024, 1024),
    (512, 2048, 2048),
];

/// `(N, C, H, W, O, k, stride, groups)`, padding `k / 2`.
const CONV2D: &[[usize; 8]] = &[
    [1, 64, 56, 56, 64, 3, 1, 1],
    [1, 256, 14, 14, 256, 3, 1, 1],
    [8, 32, 32, 32, 64, 3, 1, 1],
    [1, 128, 56, 56, 128, 3, 1, 128],
    [1, 128, 28, 28, 256, 1, 1, 1],
    [1, 3, 224, 224, 32, 3, 2, 1],
];

struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn u8s(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
    fn i8s(&mut self, n: usize) -> Vec<i8> {
        (0..n).map(|_| (self.next() % 61) as i8 - 30).collect()
    }
    fn f32s(&mut self, n: usize) -> Vec<f32> {
        (0..n)
            .map(|_| (self.next() % 2001) as f32 / 1000.0 - 1.0)
            .collect()
    }
}

/// Nanoseconds this thread has spent on a CPU (Linux), to compare kernels on a busy machine.
fn cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Seconds per call: wall clock, and on-CPU time where the OS reports it (else wall clock).
fn time(min_time: f64, mut f: impl FnMut()) -> (f64, f64) {
    f();
    f();
    let start = Instant::now();
    let cpu0 = cpu_ns();
    let mut n = 0u32;
    loop {
        f();
        n += 1;
        let t = start.elapsed().as_secs_f64();
        if t >= min_time {
            let cpu = match (cpu0, cpu_ns()) {
                (Some(a), Some(b)) => (b - a) as f64 * 1e-9,
                _ => t,
            };
            return (t / f64::from(n), cpu / f64::from(n));
        }
    }
}

fn main() {
    let mut filter = String::new();
    let mut paths = Vec::new();
    let mut min_time = 0.5;
    let mut layout = Layout::Nchw;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--path" => paths.push(
                args.next()
                    .and_then(|p| Path::from_name(&p))
                    .expect("--path takes a path name"),
            ),
            "--min-time" => min_time = args.next().and_then(|v| v.parse().ok()).expect("seconds"),
            "--nhwc" => layout = Layout::Nhwc,
            "--bench" => {}
            other => filter = other.to_string(),
        }
    }
    let kernels: Vec<Kernels> = if paths.is_empty() {
        vec![Kernels::active()]
    } else {
        paths
            .into_iter()
            .map(|p| Kernels::new(p).expect("path available"))
            .collect()
    };
    let mut g = Gen(0x9e3779b97f4a7c15);
    let wq = WeightQuant::PerTensor {
        scale: 0.01,
        zero_point: 0,
    };
    let xq = U8Quant::new(0.05, 64).unwrap();
    let out = OutputSpec::new(U8Quant::new(0.1, 64).unwrap());
    for &(m, k, n) in LINEAR {
        let shape = format!("linear {m}x{k}x{n}");
        if !shape.contains(&filter) {
            continue;
        }
        let (x, w, b) = (g.u8s(m * k), g.i8s(n * k), g.f32s(n));
        let xf: Vec<f32> = g.f32s(m * k);
        for kern in &kernels {
            let lw = LinearWeights {
                weight: &w,
                out_features: n,
                in_features: k,
                quant: &wq,
                bias: Some(&b),
            };
            let packed = kern.pack_linear(&lw).unwrap();
            let xshape = [m, k];
            let view = QView::new(&x, &xshape, xq);
            let t = time(min_time, || {
                kern.linear(&packed, &view, out).unwrap();
            });
            let td = time(min_time, || {
                kern.linear_dynamic(&packed, &xf, &[m, k], false).unwrap();
            });
            let ops = 2.0 * (m * k * n) as f64;
            println!(
                "{shape:<34} {:<12} static {:7.1} GOPS ({:7.1} on-CPU)  dynamic {:7.1} GOPS ({:7.1} on-CPU)",
                kern.path().name(),
                ops / t.0 / 1e9,
                ops / t.1 / 1e9,
                ops / td.0 / 1e9,
                ops / td.1 / 1e9
            );
        }
    }
    for &[n, c, h, w, o, k, stride, groups] in CONV2D {
        let shape = format!("conv2d {n}x{c}x{h}x{w}->{o}k{k}s{stride}g{groups}");
        if !shape.contains(&filter) {
            continue;
        }
        let x = g.u8s(n * c * h * w);
        let wt = g.i8s(o * (c / groups) * k * k);
        let b = g.f32s(o);
        let wshape = [o, c / groups, k, k];
        let params = ConvParams::new(&[stride; 2], &[k / 2; 2], &[1; 2], groups);
        let pad = k / 2;
        let (ho, wo) = (
            (h + 2 * pad - k) / stride + 1,
            (w + 2 * pad - k) / stride + 1,
        );
        let ops = 2.0 * (n * o * ho * wo * (c / groups) * k * k) as f64;
        for kern in &kernels {
            let cw = ConvWeights {
                weight: &wt,
                shape: &wshape,
                quant: &wq,
                bias: Some(&b),
            };
            let packed = kern.pack_conv(&cw, &params).unwrap();
            let xshape = [n, c, h, w];
            let view = QView::new(&x, &xshape, xq).with_layout(layout);
            let t = time(min_time, || {
                kern.conv(&packed, &view, out).unwrap();
            });
            println!(
                "{shape:<34} {:<12} static {:7.1} GOPS ({:7.1} on-CPU)",
                kern.path().name(),
                ops / t.0 / 1e9,
                ops / t.1 / 1e9
            );
        }
    }
}
