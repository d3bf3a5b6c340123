//! Timing loop and the JSON row format shared with PyTorch's baseline script.

use std::time::Instant;

/// Seconds per call: two warm-up calls, then calls until `min_time` seconds have passed
/// (the same procedure as PyTorch's baseline script).
pub fn time_per_call(min_time: f64, mut f: impl FnMut()) -> f64 {
    f();
    f();
    let start = Instant::now();
    let mut n = 0u64;
    loop {
        f();
        n += 1;
        let t = start.elapsed().as_secs_f64();
        if t >= min_time {
            return t / n as f64;
        }
    }
}

/// One benchmark result, printed as a JSON line that `compare.py` pairs with PyTorch's.
#[derive(Debug, Clone)]
pub struct Row {
    /// `linear`, `conv2d`, `lstm`.
    pub op: &'static str,
    /// `fp32`, `static`, `dynamic`.
    pub mode: &'static str,
    /// `fp32`, `fbgemm`, `qnnpack`.
    pub engine: &'static str,
    /// The suite's shape string.
    pub shape: String,
    /// Threads used.
    pub threads: usize,
    /// Operations per call.
    pub ops: f64,
    /// Seconds per call.
    pub seconds: f64,
}

impl Row {
    /// Billions of operations per second.
    pub fn gops(&self) -> f64 {
        self.ops / self.seconds / 1e9
    }

    /// The JSON line.
    pub fn json(&self) -> String {
        format!(
            r#"{{"op": "{}", "mode": "{}", "engine": "{}", "shape": "{}", "threads": {}, "ops": {}, "seconds": {:.9}, "gops": {:.4}, "impl": "ours"}}"#,
            self.op,
            self.mode,
            self.engine,
            self.shape,
            self.threads,
            self.ops,
            self.seconds,
            self.gops()
        )
    }
}
