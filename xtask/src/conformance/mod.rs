//! `cargo xtask conformance`: run PyTorch's reference cases against our implementation.
//!
//! Each fixture case names a `kind`; [`kinds::handler`] maps kinds to the code that runs them.
//! A kind without a handler is counted as unsupported (a failure with `--strict`), never
//! silently skipped.

pub mod check;
pub mod fixture;
pub mod kinds;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use fixture::FixtureFile;

/// Command-line options.
pub struct Options {
    dir: PathBuf,
    kind: Option<String>,
    strict: bool,
    verbose: bool,
}

impl Options {
    /// Parses `[--dir DIR] [--kind KIND] [--strict] [--verbose]`.
    pub fn parse(args: &[String], root: PathBuf) -> Result<Self, String> {
        let mut opts = Options {
            dir: root.join("conformance").join("fixtures"),
            kind: None,
            strict: false,
            verbose: false,
        };
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            match arg.as_str() {
                "--dir" => opts.dir = PathBuf::from(it.next().ok_or("--dir needs a value")?),
                "--kind" => opts.kind = Some(it.next().ok_or("--kind needs a value")?.clone()),
                "--strict" => opts.strict = true,
                "--verbose" | "-v" => opts.verbose = true,
                other => return Err(format!("unknown option {other}")),
            }
        }
        Ok(opts)
    }
}

#[derive(Default)]
struct Tally {
    passed: usize,
    failed: usize,
    unsupported: usize,
}

/// Runs every case and prints the report; the exit code is non-zero on any failure.
pub fn run(opts: &Options) -> ExitCode {
    let files = match fixture_files(&opts.dir) {
        Ok(f) if !f.is_empty() => f,
        Ok(_) => {
            eprintln!("error: no *.json fixture files in {}", opts.dir.display());
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", opts.dir.display());
            return ExitCode::FAILURE;
        }
    };
    let mut per_kind: BTreeMap<String, Tally> = BTreeMap::new();
    let mut load_errors = 0usize;
    for path in &files {
        let file_name = path.file_name().unwrap_or_default().to_string_lossy();
        let parsed: Result<FixtureFile, String> = std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|s| serde_json::from_str(&s).map_err(|e| e.to_string()));
        let file = match parsed {
            Ok(f) => f,
            Err(e) => {
                println!("FAIL {file_name}: cannot load: {e}");
                load_errors += 1;
                continue;
            }
        };
        if opts.verbose {
            println!(
                "{file_name}: {} cases from {}",
                file.cases.len(),
                file.generator
            );
        }
        for case in &file.cases {
            if opts.kind.as_ref().is_some_and(|k| *k != case.kind) {
                continue;
            }
            let tally = per_kind.entry(case.kind.clone()).or_default();
            let Some(handler) = kinds::handler(&case.kind) else {
                tally.unsupported += 1;
                continue;
            };
            match handler(case) {
                Ok(v) if v.passed => {
                    tally.passed += 1;
                    if opts.verbose || !v.detail.is_empty() {
                        let note = if v.detail.is_empty() {
                            String::new()
                        } else {
                            format!(" ({})", v.detail)
                        };
                        println!("ok   {file_name}::{}{note}", case.name);
                    }
                }
                Ok(v) => {
                    tally.failed += 1;
                    println!(
                        "FAIL {file_name}::{} [{}]: {}",
                        case.name, case.kind, v.detail
                    );
                }
                Err(e) if e.starts_with(kinds::UNSUPPORTED) => {
                    tally.unsupported += 1;
                    if opts.verbose {
                        println!("skip {file_name}::{}: {e}", case.name);
                    }
                }
                Err(e) => {
                    tally.failed += 1;
                    println!(
                        "FAIL {file_name}::{} [{}]: error: {e}",
                        case.name, case.kind
                    );
                }
            }
        }
    }
    print_table(&per_kind);
    let passed: usize = per_kind.values().map(|t| t.passed).sum();
    let mut failed: usize = per_kind.values().map(|t| t.failed).sum::<usize>() + load_errors;
    let unsupported: usize = per_kind.values().map(|t| t.unsupported).sum();
    if unsupported > 0 {
        let names: Vec<&str> = per_kind
            .iter()
            .filter(|(_, t)| t.unsupported > 0)
            .map(|(k, _)| k.as_str())
            .collect();
        println!(
            "unsupported kinds ({unsupported} cases): {}",
            names.join(", ")
        );
    }
    if opts.strict {
        failed += unsupported;
        println!("{passed} passed, {failed} failed");
    } else {
        println!("{passed} passed, {failed} failed, {unsupported} skipped");
    }
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn print_table(per_kind: &BTreeMap<String, Tally>) {
    println!();
    println!(
        "{:<44} {:>6} {:>6} {:>11}",
        "kind", "passed", "failed", "unsupported"
    );
    for (kind, t) in per_kind {
        println!(
            "{kind:<44} {:>6} {:>6} {:>11}",
            t.passed, t.failed, t.unsupported
        );
    }
    println!();
}

fn fixture_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    Ok(files)
}
