//! `cargo xtask bench`: the shared benchmark suite (linear, conv2d, lstm; fp32, static, dynamic)
//! timed on our implementation, printed as a table or as JSON lines for `compare.py`.

mod quantized;
mod suite;
mod timing;

use std::process::ExitCode;

pub use timing::Row;

/// Command-line options.
pub struct Options {
    json: bool,
    threads: usize,
    filter: Option<String>,
    min_time: f64,
    engines: Vec<qtensor::Engine>,
}

impl Options {
    /// Parses `[--json] [--threads N] [--filter S] [--min-time SECONDS] [--engines a,b]`.
    pub fn parse(args: &[String]) -> Result<Self, String> {
        let mut o = Options {
            json: false,
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

/// Runs the suite and prints the rows.
pub fn run(opts: &Options) -> ExitCode {
    if let Err(e) = qkernels_x86::set_num_threads(opts.threads) {
        eprintln!("bench: {e}");
        return ExitCode::FAILURE;
    }
    nn::set_num_threads(opts.threads);
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
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
