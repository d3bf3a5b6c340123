//! `cargo xtask ci`: the whole check a submission must pass, in the order CI runs it.

use std::path::Path;
use std::process::{Command, ExitCode};

/// The steps: formatting, lints, tests, docs, conformance (then the operator cases again with
/// both engines' kernels forced onto their portable/scalar and AVX2 paths, so every x86 path this
/// CPU has is checked against PyTorch).
const STEPS: &[(&str, &[&str])] = &[
    ("format", &["fmt", "--all", "--", "--check"]),
    (
        "clippy",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    ),
    ("tests", &["test", "--workspace"]),
    ("docs", &["doc", "--workspace", "--no-deps"]),
    ("conformance", &["xtask", "conformance"]),
    (
        "conformance-scalar",
        &["xtask", "conformance", "--kind", "op"],
    ),
    (
        "conformance-avx2",
        &["xtask", "conformance", "--kind", "op"],
    ),
];

/// Runs every step with the same cargo that runs us; stops at the first failure.
pub fn run(root: &Path) -> ExitCode {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    for (name, args) in STEPS {
        println!("==> {name}: cargo {}", args.join(" "));
        let mut cmd = Command::new(&cargo);
        cmd.args(*args).current_dir(root);
        match *name {
            "docs" => {
                cmd.env("RUSTDOCFLAGS", "-D warnings");
            }
            // The quantized engine is process-wide (as in PyTorch) and many tests switch it, so
            // each test binary runs its tests one at a time.
            "tests" => {
                cmd.env("RUST_TEST_THREADS", "1");
            }
            "conformance-scalar" => {
                cmd.env("QKERNELS_X86_ISA", "scalar");
                cmd.env("QKERNELS_ARM_PATH", "portable");
            }
            "conformance-avx2" => {
                cmd.env("QKERNELS_X86_ISA", "avx2");
                cmd.env("QKERNELS_ARM_PATH", "avx2");
            }
            _ => {}
        }
        match cmd.status() {
            Ok(s) if s.success() => {}
            Ok(s) => {
                eprintln!("ci: step '{name}' failed ({s})");
                return ExitCode::FAILURE;
            }
            Err(e) => {
                eprintln!("ci: cannot run cargo for step '{name}': {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    println!("ci: all steps passed");
    ExitCode::SUCCESS
}
