//! `cargo xtask bench`: the shared benchmark suite (linear, conv2d, lstm; fp32, static, dynamic)
//! timed on our implementation, printed as a table or as JSON lines for `compare.py`.

mod lstm;
mod quantized;
mod suite;
mod timing;

use std::process::ExitCode;

pub use timing::Row;

/// Command-line options.
pub struct Options {
    json: bool,
    peak: bool,
    threads: usize,
    filter: Option<String>,
    min_time: f64,
    engines: Vec<qtensor::Engine>,
}

impl Options {
    /// Parses `[--peak] [--json] [--threads N] [--filter S] [--min-time SECONDS] [--engines a,b]`.
    pub fn parse(args: &[String]) -> Result<Self, String> {
        let mut o = Options {
            json: false,
            peak: false,
            threads: 1,
            filter: None,
            min_time: 0.5,
            engines: qtensor::supported_engines().to_vec(),
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut value = |name: &str| it.next().cloned().ok_or(format!("{name} needs a value"));
            match a.as_str() {
                "--json" => o.json = true,
                "--peak" => o.peak = true,
                "--threads" => {
                    o.threads = value("--threads")?
                        .parse()
                        .map_err(|e| format!("--threads: {e}"))?
                }
                "--filter" => o.filter = Some(value("--filter")?),
                "--min-time" => {
                    o.min_time = value("--min-time")?
                        .parse()
                        .map_err(|e| format!("--min-time: {e}"))?
                }
                "--engines" => {
                    o.engines = value("--engines")?
                        .split(',')
                        .map(|e| e.parse().map_err(|e: qtensor::QError| e.to_string()))
                        .collect::<Result<_, _>>()?
                }
                other => return Err(format!("unknown option {other}")),
            }
        }
        if o.threads == 0 {
            return Err("--threads must be at least 1".into());
        }
        Ok(o)
    }

    /// True if a row named `op/mode/shape` passes the filter.
    fn keep(&self, op: &str, mode: &str, shape: &str) -> bool {
        self.filter
            .as_ref()
            .is_none_or(|f| format!("{op}/{mode}/{shape}").contains(f.as_str()))
    }
}

/// Runs the suite and prints the rows (or, with `--peak`, the CPU's int8 peak and the share of it
/// the 512x2048x2048 GEMM reaches).
pub fn run(opts: &Options) -> ExitCode {
    if opts.peak {
        return peak(opts);
    }
    if let Err(e) = nn::set_num_threads(opts.threads) {
        eprintln!("bench: {e}");
        return ExitCode::FAILURE;
    }
    let mut failed = false;
    let mut emit = |row: Result<Row, String>| match row {
        Ok(r) if opts.json => println!("{}", r.json()),
        Ok(r) => println!(
            "{:<7} {:<8} {:<8} {:<30} {:>3} {:>10.1} GOPS {:>10.3} ms",
            r.op,
            r.mode,
            r.engine,
            r.shape,
            r.threads,
            r.gops(),
            r.seconds * 1e3
        ),
        Err(e) => {
            eprintln!("bench error: {e}");
            failed = true;
        }
    };
    quantized::run_all(opts, &mut emit);
    lstm::rows(opts, &mut emit);
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// `--peak`: one thread's register-only `vpdpbusd` rate against the static 512x2048x2048 linear.
fn peak(opts: &Options) -> ExitCode {
    let Some(peak) = qkernels_x86::peak::vnni_peak_gops(2.0) else {
        eprintln!("bench --peak: this CPU has no AVX-512 VNNI");
        return ExitCode::FAILURE;
    };
    if let Err(e) = qkernels_x86::set_num_threads(1) {
        eprintln!("bench: {e}");
        return ExitCode::FAILURE;
    }
    let single = Options {
        filter: Some("linear/static/512x2048x2048".into()),
        engines: vec![qtensor::Engine::Fbgemm],
        threads: 1,
        json: false,
        peak: false,
        min_time: opts.min_time.max(1.0),
    };
    let mut gemm = None;
    quantized::run_all(&single, &mut |r| {
        if let Ok(r) = r {
            gemm = Some(r.gops());
        }
    });
    println!("vpdpbusd register-only peak, 1 thread: {peak:.1} GOPS");
    match gemm {
        Some(g) => {
            println!(
                "static linear 512x2048x2048, 1 thread: {g:.1} GOPS = {:.0}% of peak",
                100.0 * g / peak
            );
            ExitCode::SUCCESS
        }
        None => ExitCode::FAILURE,
    }
}
