//! Every SIMD row primitive equals its scalar body on ragged lengths.

use super::*;
use proptest::prelude::*;

const RAGGED: [usize; 16] = [0, 1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 129, 300];

fn simd_isas(what: &str) -> Vec<Isa> {
    [Isa::Avx2, Isa::Avx512Vnni]
        .into_iter()
        .filter(|isa| {
            let ok = isa.is_available();
            if !ok {
                eprintln!("{what}: {isa:?} not available on this CPU, skipped");
            }
            ok
        })
        .collect()
}

fn bytes(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 11) as u8)
        .collect()
}

#[test]
fn max_into_and_sum_match_scalar_on_ragged_lengths() {
    for len in RAGGED {
        let (a, b) = (bytes(len, 3), bytes(len, 40));
        let mut want = a.clone();
        scalar::max_into(&mut want, &b);
        for isa in simd_isas("max_into/sum") {
            let mut got = a.clone();
            max_into(isa, &mut got, &b);
            assert_eq!(got, want, "max_into {isa:?} len={len}");
            assert_eq!(sum(isa, &a), scalar::sum(&a), "sum {isa:?} len={len}");
        }
    }
}

#[test]
fn add_into_and_avg_requant_match_scalar_on_ragged_lengths() {
    for len in RAGGED {
        let sums: Vec<i32> = (0..len as i32).map(|i| i * 97 % 2000 - 300).collect();
        let sub: Vec<i32> = (0..len as i32).map(|i| (i % 5) * 40).collect();
        let mult: Vec<f32> = (0..len).map(|i| 1.0 / (1 + i % 9) as f32).collect();
        let mut want_acc = sums.clone();
        scalar::add_into_i32(&mut want_acc, &sub);
        let mut want = vec![0u8; len];
        scalar::avg_requant(&sums, &sub, &mult, 17, &mut want);
        for isa in simd_isas("add_into/avg_requant") {
            let mut acc = sums.clone();
            add_into_i32(isa, &mut acc, &sub);
            assert_eq!(acc, want_acc, "add_into {isa:?} len={len}");
            let mut got = vec![0u8; len];
            avg_requant(isa, &sums, &sub, &mult, 17, &mut got);
            assert_eq!(got, want, "avg_requant {isa:?} len={len}");
        }
    }
}

proptest! {
    #[test]
    fn pool_primitives_match_scalar_on_random_inputs(
        ab in (0usize..300).prop_flat_map(|n| (
            proptest::collection::vec(any::<u8>(), n),
            proptest::collection::vec(any::<u8>(), n),
            proptest::collection::vec(-100_000i32..100_000, n),
            proptest::collection::vec(1u32..100, n),
        )),
        zp in 0i32..256,
    ) {
        let (a, b, sums, divs) = ab;
        let mult: Vec<f32> = divs.iter().map(|&d| (1.0 / f64::from(d)) as f32).collect();
        let sub: Vec<i32> = divs.iter().map(|&d| d as i32 * zp).collect();
        let mut want_max = a.clone();
        scalar::max_into(&mut want_max, &b);
        let mut want_q = vec![0u8; a.len()];
        scalar::avg_requant(&sums, &sub, &mult, zp, &mut want_q);
        for isa in [Isa::Avx2, Isa::Avx512Vnni].into_iter().filter(|i| i.is_available()) {
            let mut got = a.clone();
            max_into(isa, &mut got, &b);
            prop_assert_eq!(&got, &want_max);
            prop_assert_eq!(sum(isa, &a), scalar::sum(&a));
            let mut q = vec![0u8; a.len()];
            avg_requant(isa, &sums, &sub, &mult, zp, &mut q);
            prop_assert_eq!(&q, &want_q);
        }
    }
}
