//! Fuzzed loading: a saved file with random bytes changed, inserted or cut off (anywhere, and
//! often in the JSON header) never panics the loader; either the load is refused with the
//! model left exactly as it was, or the damage was immaterial and the model holds exactly the
//! saved state.

mod state_common;
mod state_model;

use std::sync::OnceLock;

use nn_quantized::state::{load_quantized_state_dict, quantized_state_dict, QuantizedStateDict};
use proptest::prelude::*;
use proptest::sample::Index;
use state_common::{engine_lock, engines};
use state_model::{net, snapshot, Variant};

fn saved() -> &'static (QuantizedStateDict, Vec<u8>) {
    static SAVED: OnceLock<(QuantizedStateDict, Vec<u8>)> = OnceLock::new();
    SAVED.get_or_init(|| {
        let sd = quantized_state_dict(&net(2, 5, Variant::Same)).unwrap();
        let bytes = sd.to_safetensors().unwrap();
        (sd, bytes)
    })
}

#[derive(Debug, Clone)]
enum Edit {
    Xor(Index, bool, u8),
    Set(Index, bool, u8),
    Insert(Index, bool, u8),
    Remove(Index, bool),
    /// A letter or digit of the header replaced by another: the JSON stays well-formed, so
    /// the loader's own checks have to catch it.
    /// With `true`, inside the `__metadata__` part of the header.
    Alnum(Index, u8, bool),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        5 => (any::<Index>(), any::<bool>(), 1u8..).prop_map(|(i, h, v)| Edit::Xor(i, h, v)),
        3 => (any::<Index>(), any::<bool>(), any::<u8>()).prop_map(|(i, h, v)| Edit::Set(i, h, v)),
        1 => (any::<Index>(), any::<bool>(), any::<u8>()).prop_map(|(i, h, v)| Edit::Insert(i, h, v)),
        1 => (any::<Index>(), any::<bool>()).prop_map(|(i, h)| Edit::Remove(i, h)),
        6 => (any::<Index>(), any::<u8>(), any::<bool>()).prop_map(|(i, v, m)| Edit::Alnum(i, v, m)),
    ]
}

/// Where the header (length prefix + JSON) ends, as far as the length prefix says.
fn header_end(bytes: &[u8]) -> usize {
    bytes
        .get(..8)
        .map(|b| (u64::from_le_bytes(b.try_into().unwrap()) as usize).saturating_add(8))
        .unwrap_or(bytes.len())
        .min(bytes.len())
}

/// A position in `bytes`, inside the header when `header`.
fn position(bytes: &[u8], i: &Index, header: bool) -> usize {
    let span = if header {
        header_end(bytes)
    } else {
        bytes.len()
    };
    i.index(span.max(1)).min(bytes.len().saturating_sub(1))
}

fn apply(bytes: &mut Vec<u8>, e: &Edit) {
    if bytes.is_empty() {
        return;
    }
    match e {
        Edit::Xor(i, h, v) => {
            let p = position(bytes, i, *h);
            bytes[p] ^= v;
        }
        Edit::Set(i, h, v) => {
            let p = position(bytes, i, *h);
            bytes[p] = *v;
        }
        Edit::Insert(i, h, v) => {
            let p = position(bytes, i, *h);
            bytes.insert(p, *v);
        }
        Edit::Remove(i, h) => {
            let p = position(bytes, i, *h);
            bytes.remove(p);
        }
        Edit::Alnum(i, v, in_metadata) => {
            const ALNUM: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
            let end = header_end(bytes);
            let (mut from, mut to) = (8, end);
            if *in_metadata {
                // The metadata comes first in the header, before the first tensor entry.
                let text = String::from_utf8_lossy(&bytes[..end]);
                if let (Some(a), Some(b)) = (text.find("__metadata__"), text.find("{\"dtype\"")) {
                    (from, to) = (a, b.max(a));
                }
            }
            let spots: Vec<usize> = (from..to)
                .filter(|&p| bytes[p].is_ascii_alphanumeric())
                .collect();
            if !spots.is_empty() {
                let p = spots[i.index(spots.len())];
                bytes[p] = ALNUM[usize::from(*v) % ALNUM.len()];
            }
        }
    }
}

/// Loads `damaged` into a fresh model of the saved architecture: refused with the model
/// unchanged, or accepted with exactly the saved state.
fn check(damaged: &[u8]) -> Result<(), TestCaseError> {
    let _guard = engine_lock(engines()[0]);
    let (original, _) = saved();
    let mut m = net(2, 6, Variant::Same);
    let before = snapshot(&mut m);
    match QuantizedStateDict::from_safetensors(damaged)
        .and_then(|sd| load_quantized_state_dict(&mut m, &sd))
    {
        Ok(()) => prop_assert_eq!(&quantized_state_dict(&m).unwrap(), original),
        Err(_) => prop_assert_eq!(snapshot(&mut m), before),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn damaged_files_are_refused_or_harmless_and_never_half_loaded(
        edits in proptest::collection::vec(edit(), 1..3),
        cut in proptest::option::weighted(0.1, any::<Index>()),
    ) {
        let mut damaged = saved().1.clone();
        for e in &edits {
            apply(&mut damaged, e);
        }
        if let Some(c) = cut {
            damaged.truncate(c.index(damaged.len() + 1));
        }
        check(&damaged)?;
    }

    #[test]
    fn metadata_edits_that_keep_the_json_well_formed_are_caught_too(
        edits in proptest::collection::vec(
            (any::<Index>(), any::<u8>()).prop_map(|(i, v)| Edit::Alnum(i, v, true)),
            1..3,
        ),
    ) {
        let mut damaged = saved().1.clone();
        for e in &edits {
            apply(&mut damaged, e);
        }
        check(&damaged)?;
    }
}
