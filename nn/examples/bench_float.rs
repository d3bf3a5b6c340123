//! Throughput of the float layers on the benchmark suite's fp32 shapes (one thread):
//! `cargo run --release -p nn --example bench_float [--json]`.
//!
//! GOPS count `2*M*K*N` for linear, `2*N*O*Ho*Wo*(C/groups)*kh*kw` for conv and
//! `2*T*B*4*H*(I+H)` for LSTM, as the
//! PyTorch baseline script does, so the rows compare directly.

use std::time::Instant;

use nn::prelude::*;
use nn::{no_grad, Conv2d, ConvConfig, Linear, RnnConfig, LSTM};

/// Nanoseconds this thread has run on a CPU (Linux), so that a loaded machine does not distort
/// the numbers; falls back to wall time elsewhere.
fn cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// Seconds per call: on-CPU time when available, else wall time.
fn time(mut f: impl FnMut(), min_secs: f64) -> f64 {
    f();
    f();
    let (mut n, t0, c0) = (0u32, Instant::now(), cpu_ns());
    loop {
        f();
        n += 1;
        let t = t0.elapsed().as_secs_f64();
        if t >= min_secs {
            let secs = match (c0, cpu_ns()) {
                (Some(a), Some(b)) => (b - a) as f64 * 1e-9,
                _ => t,
            };
            return secs / f64::from(n);
        }
    }
}

fn main() -> nn::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json = args.iter().any(|a| a == "--json");
    // Optional filter: only rows whose shape contains this text.
    let only = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .cloned()
        .unwrap_or_default();
    nn::set_num_threads(1).expect("threads");
    let _g = nn::NoGradGuard::new();
    let report = |op: &str, shape: String, ops: f64, secs: f64| {
        if !shape.contains(&only) {
            return;
        }
        let gops = ops / secs / 1e9;
        if json {
            println!(
                r#"{{"op": "{op}", "mode": "fp32", "engine": "fp32", "shape": "{shape}", "threads": 1, "gops": {gops:.3}, "seconds": {secs:.6}, "impl": "ours"}}"#
            );
        } else {
            println!("{op:7} {shape:28} {gops:7.1} GFLOPS  {:9.3} ms", secs * 1e3);
        }
    };
    for (m, k, n) in [
        (1, 768, 768),
        (1, 4096, 4096),
        (16, 1024, 1024),
        (64, 768, 3072),
        (128, 1024, 1024),
        (512, 2048, 2048),
    ] {
        if !format!("{m}x{k}x{n}").contains(&only) {
            continue;
        }
        let mut lin = Linear::new(k, n, true);
        let x = Value::Float(Tensor::randn(&[m, k]));
        let secs = time(|| drop(no_grad(|| lin.forward(x.clone()))), 0.5);
        report(
            "linear",
            format!("{m}x{k}x{n}"),
            2.0 * (m * k * n) as f64,
            secs,
        );
    }
    for (n, c, h, w, o, k, s, g) in [
        (1, 64, 56, 56, 64, 3, 1, 1),
        (1, 256, 14, 14, 256, 3, 1, 1),
        (8, 32, 32, 32, 64, 3, 1, 1),
        (1, 128, 56, 56, 128, 3, 1, 128),
        (1, 128, 28, 28, 256, 1, 1, 1),
        (1, 3, 224, 224, 32, 3, 2, 1),
    ] {
        if !format!("{n}x{c}x{h}x{w}->{o}k{k}s{s}g{g}").contains(&only) {
            continue;
        }
        let mut conv = Conv2d::from_config(
            ConvConfig::new(c, o, &[k, k])
                .stride(s)
                .padding(k / 2)
                .groups(g),
        )?;
        let x = Value::Float(Tensor::randn(&[n, c, h, w]));
        let (ho, wo) = ((h + 2 * (k / 2) - k) / s + 1, (w + 2 * (k / 2) - k) / s + 1);
        let ops = 2.0 * (n * o * ho * wo * (c / g) * k * k) as f64;
        let secs = time(|| drop(conv.forward(x.clone())), 0.5);
        report(
            "conv2d",
            format!("{n}x{c}x{h}x{w}->{o}k{k}s{s}g{g}"),
            ops,
            secs,
        );
    }
    for (t, b, i, h) in [(32, 8, 256, 512), (16, 1, 512, 512)] {
        if !format!("{t}x{b}x{i}->{h}").contains(&only) {
            continue;
        }
        let mut lstm = LSTM::new(RnnConfig::new(i, h))?;
        let x = Value::Float(Tensor::randn(&[t, b, i]));
        let ops = 2.0 * (t * b * 4 * h * (i + h)) as f64;
        let secs = time(|| drop(lstm.forward(x.clone())), 0.5);
        report("lstm", format!("{t}x{b}x{i}->{h}"), ops, secs);
    }
    Ok(())
}
