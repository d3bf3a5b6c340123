//! Training the float model, with a progress bar.

use indicatif::{ProgressBar, ProgressStyle};
use nn::data::Dataset;
use nn::functional::{cross_entropy, Reduction};
use nn::optim::{Adam, AdamConfig, Optimizer};
use nn::{Module, Value};

/// Trains `model` for `epochs` over `data` with Adam and cross-entropy (batches of 32), showing
/// progress; leaves the model in eval mode.
pub fn train(
    model: &mut dyn Module,
    data: &Dataset,
    epochs: usize,
    lr: f64,
    label: &str,
) -> nn::Result<()> {
    let mut opt = Adam::new(
        model.parameters(),
        AdamConfig {
            lr,
            ..Default::default()
        },
    )?;
    let mut rng = nn::Rng::new(7);
    let steps_per_epoch = data.len().div_ceil(32);
    let bar = ProgressBar::new((epochs * steps_per_epoch) as u64);
    bar.set_style(
        ProgressStyle::with_template("{prefix:>14} [{bar:32}] {pos}/{len} steps, loss {msg}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(label.to_string());
    model.train(true);
    for _ in 0..epochs {
        for b in data.batches(32, &mut rng) {
            let (x, y) = data.batch(&b)?;
            let logits = model.forward(Value::Float(x))?.into_float("train")?;
            let loss = cross_entropy(&logits, &y, Reduction::Mean)?;
            opt.zero_grad();
            loss.backward()?;
            opt.step()?;
            bar.set_message(format!("{:.4}", loss.item()?));
            bar.inc(1);
        }
    }
    bar.finish();
    model.train(false);
    Ok(())
}
