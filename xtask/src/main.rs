//! `cargo xtask <task>`: the workspace's own tasks.
//!
//! - `demo`: train, quantize every way, print one table.
//! - `bench [--json] [--threads N] [--filter S]`: the benchmark suite.
//! - `ci`: formatting, clippy, tests, docs and conformance: the check every change passes.
//! - `conformance [--dir DIR] [--kind KIND] [--strict]`: run PyTorch's reference cases.

use xtask::{bench, ci, conformance, demo};

use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <task>

tasks:
  demo [--workflows LIST] [--engine E] [--threads N] [--batch-size B] [--epochs N]
      Train a CNN on the vendored digits, quantize it every way, print accuracy, size and
      latency per workflow and engine (--help for details).
  bench [--peak] [--json] [--threads N] [--filter S] [--min-time SECONDS] [--engines fbgemm,qnnpack]
      Time the shared benchmark suite (linear, conv2d: fp32, static, dynamic) in release mode.
      --json prints one JSON object a line, the form ../shared/bench/compare.py pairs with
      PyTorch's rows; --filter keeps rows whose 'op/mode/shape' contains S; --peak measures the
      CPU's register-only vpdpbusd rate and the share of it the 512x2048x2048 GEMM reaches.
  ci
      The full check: cargo fmt --check, clippy -D warnings, cargo test --workspace,
      cargo doc, and conformance. Stops at the first failing step.
  conformance [--dir DIR] [--kind KIND] [--strict]
      Run every case of every fixture file in DIR (default: conformance/fixtures) against our
      implementation; print failures with their worst error, a per-kind table and a final
      'N passed, M failed' line. Kinds we do not support yet are listed as unsupported
      (failures with --strict). Exits non-zero on any failure.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("conformance") => match conformance::Options::parse(&args[1..], workspace_root()) {
            Ok(opts) => conformance::run(&opts),
            Err(msg) => {
                eprintln!("error: {msg}\n\n{USAGE}");
                ExitCode::from(2)
            }
        },
        Some("ci") => ci::run(&workspace_root()),
        Some("demo") => match demo::Options::parse(&args[1..]) {
            Ok(Some(opts)) => demo::run(&opts),
            Ok(None) => {
                println!("{}", demo::HELP);
                ExitCode::SUCCESS
            }
            Err(msg) => {
                eprintln!("error: {msg}\n\n{}", demo::HELP);
                ExitCode::from(2)
            }
        },
        Some("bench") => match bench::Options::parse(&args[1..]) {
            Ok(opts) => bench::run(&opts),
            Err(msg) => {
                eprintln!("error: {msg}\n\n{USAGE}");
                ExitCode::from(2)
            }
        },
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        other => {
            eprintln!(
                "error: unknown task {:?}\n\n{USAGE}",
                other.unwrap_or("<none>")
            );
            ExitCode::from(2)
        }
    }
}

/// The workspace root: the parent of this crate's manifest directory.
fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives inside the workspace")
        .to_path_buf()
}
