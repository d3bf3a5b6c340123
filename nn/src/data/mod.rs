//! Small datasets for examples and tests: the vendored handwritten-digits set.

use std::io::Read;
use std::path::{Path, PathBuf};

use ndarray::{ArrayD, Axis, IxDyn};

use crate::error::{NnError, Result};
use crate::rng::Rng;
use crate::tensor::Tensor;

/// Images `(N, 1, H, W)` scaled to `[0, 1]` and their class labels.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// The images.
    pub images: ArrayD<f32>,
    /// One class index per image.
    pub labels: Vec<usize>,
}

impl Dataset {
    /// Number of examples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True without examples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The examples at `indices` as a batch tensor and labels; errors on an index out of range.
    pub fn batch(&self, indices: &[usize]) -> Result<(Tensor, Vec<usize>)> {
        if let Some(&i) = indices.iter().find(|&&i| i >= self.len()) {
            return Err(NnError::bad_arg(
                "Dataset::batch",
                format!("index {i} out of range for {} examples", self.len()),
            ));
        }
        let x = self.images.select(Axis(0), indices);
        Ok((
            Tensor::new(x),
            indices.iter().map(|&i| self.labels[i]).collect(),
        ))
    }

    /// A shuffled split into (train, held-out) with `held_out` of the examples (0..1) held out.
    pub fn split(&self, held_out: f64, seed: u64) -> Result<(Dataset, Dataset)> {
        if !(0.0..1.0).contains(&held_out) {
            return Err(NnError::bad_arg(
                "Dataset::split",
                format!("held-out fraction must be in [0, 1), got {held_out}"),
            ));
        }
        let mut idx: Vec<usize> = (0..self.len()).collect();
        Rng::new(seed).shuffle(&mut idx);
        let n_test = (self.len() as f64 * held_out).round() as usize;
        let take = |ix: &[usize]| Dataset {
            images: self.images.select(Axis(0), ix),
            labels: ix.iter().map(|&i| self.labels[i]).collect(),
        };
        Ok((take(&idx[n_test..]), take(&idx[..n_test])))
    }

    /// Shuffled mini-batches of indices (the last may be smaller).
    pub fn batches(&self, batch_size: usize, rng: &mut Rng) -> Vec<Vec<usize>> {
        let mut idx: Vec<usize> = (0..self.len()).collect();
        rng.shuffle(&mut idx);
        idx.chunks(batch_size.max(1))
            .map(<[usize]>::to_vec)
            .collect()
    }
}

/// Where the project keeps the digits file (`data/digits.csv.gz` at the workspace root).
pub fn default_digits_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("data")
        .join("digits.csv.gz")
}

/// Parses the digits CSV: each row 64 pixel values in `0..=16` then the label `0..=9`.
pub fn parse_digits_csv(text: &str) -> Result<Dataset> {
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for (line_no, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let bad = |why: &str| NnError::bad_arg("digits", format!("line {}: {why}", line_no + 1));
        let vals: Vec<f32> = line
            .split(',')
            .map(|v| v.trim().parse::<f32>())
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| bad("not a number"))?;
        if vals.len() != 65 {
            return Err(bad(&format!("expected 65 values, got {}", vals.len())));
        }
        let label = vals[64];
        if !(0.0..=9.0).contains(&label) || label.fract() != 0.0 {
            return Err(bad("label must be 0..=9"));
        }
        pixels.extend(vals[..64].iter().map(|v| v / 16.0));
        labels.push(label as usize);
    }
    let n = labels.len();
    Ok(Dataset {
        images: ArrayD::from_shape_vec(IxDyn(&[n, 1, 8, 8]), pixels).expect("64 pixels per row"),
        labels,
    })
}

/// Loads the digits set from a `.csv.gz` (or plain `.csv`) file.
pub fn load_digits(path: impl AsRef<Path>) -> Result<Dataset> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| NnError::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let raw = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_end(&mut raw)
            .map_err(|e| NnError::bad_arg("digits", format!("corrupt gzip data: {e}")))?;
        raw
    } else {
        bytes
    };
    let text = String::from_utf8(raw)
        .map_err(|_| NnError::bad_arg("digits", "the file is not UTF-8 text"))?;
    parse_digits_csv(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vendored_digits_load_from_gzip() {
        let d = load_digits(default_digits_path()).unwrap();
        assert_eq!(d.images.shape(), &[1797, 1, 8, 8]);
        assert_eq!(d.labels.len(), 1797);
        assert!(d.images.iter().all(|v| (0.0..=1.0).contains(v)));
    }

    #[test]
    fn a_truncated_gzip_file_is_an_error() {
        let bytes = std::fs::read(default_digits_path()).unwrap();
        let path = std::env::temp_dir().join(format!("digits-truncated-{}.gz", std::process::id()));
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        let r = load_digits(&path);
        let _ = std::fs::remove_file(&path);
        assert!(r.is_err());
    }
}
