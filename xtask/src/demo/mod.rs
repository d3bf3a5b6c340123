//! `cargo xtask demo`: train a CNN on the vendored handwritten digits, quantize it every way the
//! stack offers, and print one table of accuracy, weight size and latency.

mod measure;
mod model;
mod train;
mod workflows;

use std::process::ExitCode;

use nn::data::{default_digits_path, load_digits};
use nn::Module;
use qtensor::Engine;

pub use workflows::Workflow;

/// Help text for `cargo xtask demo --help`.
pub const HELP: &str = "usage: cargo xtask demo [--workflows LIST] [--engine E] [--threads N] [--batch-size B] [--epochs N]

Trains a small CNN on the handwritten-digits data set (1797 8x8 images; 80% train, 20% held out),
then quantizes it with each workflow and prints accuracy on the held-out images, weight bytes,
median latency of one forward pass over a batch, and the speed-up over the float model.

  --workflows LIST   comma-separated, default all: dynamic, eager, fx, qat
                     (dynamic: int8 weights, activations quantized per call, linear layers only;
                      eager: static post-training quantization with stubs and fuse_modules;
                      fx: the same from a traced graph, no stubs needed;
                      qat: quantization-aware fine-tuning, then convert)
  --engine E         fbgemm, qnnpack or all (default: all this build supports)
  --threads N        worker threads, float and int8 (default 1)
  --batch-size B     images per timed forward pass (default 64)
  --epochs N         float training epochs (default 8)
  --qat-epochs N     QAT fine-tuning epochs (default 2)";

/// Command-line options.
pub struct Options {
    workflows: Vec<Workflow>,
    engines: Vec<Engine>,
    threads: usize,
    batch_size: usize,
    epochs: usize,
    qat_epochs: usize,
}

impl Options {
    /// Parses the demo's options; `Ok(None)` means `--help` was asked for.
    pub fn parse(args: &[String]) -> Result<Option<Self>, String> {
        let mut o = Options {
            workflows: Workflow::ALL.to_vec(),
            engines: qtensor::supported_engines().to_vec(),
            threads: 1,
            batch_size: 64,
            epochs: 8,
            qat_epochs: 2,
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut value = |name: &str| it.next().cloned().ok_or(format!("{name} needs a value"));
            let number = |name: &str, v: String| -> Result<usize, String> {
                match v.parse::<usize>() {
                    Ok(n) if n > 0 => Ok(n),
                    _ => Err(format!("{name} needs a positive integer, got '{v}'")),
                }
            };
            match a.as_str() {
                "-h" | "--help" => return Ok(None),
                "--workflows" => {
                    o.workflows = value("--workflows")?
                        .split(',')
                        .map(Workflow::parse)
                        .collect::<Result<_, _>>()?
                }
                "--engine" => {
                    let e = value("--engine")?;
                    if e != "all" {
                        let engine: Engine =
                            e.parse().map_err(|e: qtensor::QError| e.to_string())?;
                        if !qtensor::supported_engines().contains(&engine) {
                            return Err(format!("engine {engine} is not supported in this build"));
                        }
                        o.engines = vec![engine];
                    }
                }
                "--threads" => o.threads = number("--threads", value("--threads")?)?,
                "--batch-size" => o.batch_size = number("--batch-size", value("--batch-size")?)?,
                "--epochs" => o.epochs = number("--epochs", value("--epochs")?)?,
                "--qat-epochs" => o.qat_epochs = number("--qat-epochs", value("--qat-epochs")?)?,
                other => return Err(format!("unknown option {other}")),
            }
        }
        Ok(Some(o))
    }
}

/// One line of the final table.
pub struct Outcome {
    workflow: &'static str,
    engine: String,
    accuracy: f64,
    bytes: usize,
    latency: f64,
}

/// Runs the demo.
pub fn run(opts: &Options) -> ExitCode {
    match demo(opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn demo(opts: &Options) -> Result<(), Box<dyn std::error::Error>> {
    nn::set_num_threads(opts.threads)?;
    nn::manual_seed(0);
    let all = load_digits(default_digits_path())?;
    let (train_set, test_set) = all.split(0.2, 42)?;
    let ctx = workflows::Context::new(&train_set, &test_set, opts.batch_size)?;

    let mut float = model::DigitsCnn::new()?;
    let t0 = std::time::Instant::now();
    train::train(&mut float, &train_set, opts.epochs, 3e-3, "float training")?;
    println!("float model trained in {:.1} s", t0.elapsed().as_secs_f64());
    let state = float.state_dict();
    let float_row = ctx.measure("float", "fp32", &mut float)?;
    let mut rows = vec![float_row];
    for &w in &opts.workflows {
        for &engine in &opts.engines {
            qtensor::set_engine(engine)?;
            match w.run(&ctx, &state, engine, opts) {
                Ok(row) => rows.push(row),
                Err(e) => println!("{} on {engine}: failed: {e}", w.name()),
            }
        }
    }
    print_table(&rows, test_set.len(), opts.batch_size);
    Ok(())
}

fn print_table(rows: &[Outcome], test_len: usize, batch: usize) {
    let float_latency = rows[0].latency;
    println!();
    println!(
        "held-out accuracy on {test_len} images; latency: median forward pass over a batch of {batch}"
    );
    println!(
        "{:<9} {:<8} {:>9} {:>13} {:>13} {:>9}",
        "workflow", "engine", "accuracy", "weight bytes", "latency (ms)", "speed-up"
    );
    for r in rows {
        println!(
            "{:<9} {:<8} {:>8.2}% {:>13} {:>13.3} {:>8.2}x",
            r.workflow,
            r.engine,
            r.accuracy * 100.0,
            r.bytes,
            r.latency * 1e3,
            float_latency / r.latency
        );
    }
}
