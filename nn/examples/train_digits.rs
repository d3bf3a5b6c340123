//! Trains a small CNN on the vendored handwritten-digits set and reports held-out accuracy:
//! `cargo run --release -p nn --example train_digits`.

use nn::data::{default_digits_path, load_digits, Dataset};
use nn::functional::{cross_entropy, Reduction};
use nn::optim::{Adam, AdamConfig, Optimizer};
use nn::prelude::*;
use nn::{BatchNorm2d, Conv2d, ConvConfig, Flatten, Linear, MaxPool2d, ReLU};

/// The model: two 3x3 conv blocks, a 2x2 max pool and a linear classifier.
pub fn digits_cnn() -> nn::Result<Sequential> {
    Ok(Sequential::new()
        .with(Conv2d::from_config(
            ConvConfig::new(1, 16, &[3, 3]).padding(1),
        )?)
        .with(BatchNorm2d::new(16))
        .with(ReLU::new())
        .with(Conv2d::from_config(
            ConvConfig::new(16, 32, &[3, 3]).padding(1),
        )?)
        .with(BatchNorm2d::new(32))
        .with(ReLU::new())
        .with(MaxPool2d::new(2)?)
        .with(Flatten::new())
        .with(Linear::new(32 * 4 * 4, 10, true)))
}

/// Fraction of `data` the model classifies correctly (eval mode, no graph).
pub fn accuracy(model: &mut Sequential, data: &Dataset) -> nn::Result<f64> {
    model.eval();
    let idx: Vec<usize> = (0..data.len()).collect();
    let (x, labels) = data.batch(&idx)?;
    let logits = nn::no_grad(|| model.forward(Value::Float(x)))?.into_float("accuracy")?;
    let pred = logits.argmax(1)?;
    let correct = pred.iter().zip(&labels).filter(|(p, l)| p == l).count();
    Ok(correct as f64 / data.len().max(1) as f64)
}

/// Trains for `epochs` on 80% of the digits and returns the accuracy on the other 20%.
pub fn train(epochs: usize, verbose: bool) -> nn::Result<f64> {
    nn::manual_seed(0);
    let all = load_digits(default_digits_path())?;
    let (train_set, test_set) = all.split(0.2, 42)?;
    let mut model = digits_cnn()?;
    let mut opt = Adam::new(
        model.parameters(),
        AdamConfig {
            lr: 3e-3,
            ..Default::default()
        },
    )?;
    let mut rng = nn::Rng::new(7);
    for epoch in 0..epochs {
        model.train(true);
        let mut total = 0.0;
        let batches = train_set.batches(32, &mut rng);
        for b in &batches {
            let (x, y) = train_set.batch(b)?;
            let logits = model.forward(Value::Float(x))?.into_float("train")?;
            let loss = cross_entropy(&logits, &y, Reduction::Mean)?;
            opt.zero_grad();
            loss.backward()?;
            opt.step()?;
            total += loss.item()?;
        }
        if verbose {
            let acc = accuracy(&mut model, &test_set)?;
            println!(
                "epoch {epoch}: loss {:.4}, held-out accuracy {:.2}%",
                total / batches.len() as f32,
                acc * 100.0
            );
        }
    }
    accuracy(&mut model, &test_set)
}

#[allow(dead_code)]
fn main() -> nn::Result<()> {
    let t0 = std::time::Instant::now();
    let acc = train(8, true)?;
    println!(
        "held-out accuracy {:.2}% in {:.1} s",
        acc * 100.0,
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}
