//! Training end to end: a small CNN learns the digits set to >= 95% held-out accuracy.

#[path = "../examples/train_digits.rs"]
mod example;

use nn::data::{default_digits_path, load_digits, parse_digits_csv};

#[test]
fn vendored_digits_load() {
    let d = load_digits(default_digits_path()).unwrap();
    assert_eq!(d.len(), 1797);
    assert_eq!(d.images.shape(), &[1797, 1, 8, 8]);
    assert!(d.images.iter().all(|&v| (0.0..=1.0).contains(&v)));
    let mut counts = [0usize; 10];
    for &l in &d.labels {
        counts[l] += 1;
    }
    assert!(counts.iter().all(|&c| c > 150), "{counts:?}");
    assert!(parse_digits_csv("1,2,3").is_err());
    let (tr, te) = d.split(0.2, 1).unwrap();
    assert_eq!((tr.len(), te.len()), (1438, 359));
}

#[test]
fn small_cnn_reaches_95_percent_held_out() {
    let acc = example::train(8, false).unwrap();
    assert!(acc >= 0.95, "held-out accuracy {acc}");
}
