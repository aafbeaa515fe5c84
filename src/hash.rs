//! Hashers of the in-memory maps.
//!
//! Two kinds of key, two hashers:
//! - **Keys users choose** (node keys, relation names): [`KeyMap`], foldhash with a random seed
//!   per map. A knowledge graph built by an LLM from documents has keys whoever wrote the
//!   documents chose, so a fixed hash would let a crafted document set put every key in one
//!   probe sequence and make import and lookups quadratic (hash flooding). The fixed FxHash-style
//!   hasher walkdb used before put every key of up to 8 bytes that shares its first 3 bytes
//!   (`Q1234567`, `HP:00012`, `n123456`) into the same bucket: its multiply-xor step keeps the low
//!   bits of the product a function of the low bytes of the key (the test below shows it). SipHash
//!   (std's `RandomState`) is as safe but cost a third of the import time.
//! - **Ids walkdb assigns** (node and walk ids, dense from 0): [`IdHasher`], one multiply.
//!   Nobody but walkdb picks them.

use std::collections::HashMap;
use std::hash::Hasher;

/// A map keyed by user-chosen data: seeded per map (see the module documentation).
pub(crate) type KeyMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

const K: u64 = 0x517c_c1b7_2722_0a95;

/// FxHash-style hasher for ids walkdb assigns (never for user data: see the module
/// documentation).
#[derive(Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl IdHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(K);
    }
}

impl Hasher for IdHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 56));
        }
    }

    #[inline]
    fn write_u8(&mut self, n: u8) {
        self.add(n as u64);
    }

    #[inline]
    fn write_u32(&mut self, n: u32) {
        self.add(n as u64);
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
}

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use super::*;

    /// Buckets a table of `1 << bits` slots would use for `keys` (hashbrown indexes by the low
    /// bits of the hash).
    fn buckets<S: BuildHasher>(state: &S, keys: &[String], bits: u32) -> usize {
        let mask = (1u64 << bits) - 1;
        let mut used: Vec<u64> = keys.iter().map(|k| state.hash_one(k) & mask).collect();
        used.sort_unstable();
        used.dedup();
        used.len()
    }

    /// Key sets crafted against a fixed multiply-xor hash: shared prefixes, shared suffixes,
    /// and keys equal in their first 8 bytes.
    fn crafted(n: usize) -> Vec<(&'static str, Vec<String>)> {
        vec![
            (
                "shared 3-byte prefix, 8 bytes",
                (0..n).map(|i| format!("xyz{i:05}")).collect(),
            ),
            (
                "Wikidata-like ids",
                (0..n).map(|i| format!("Q1{i:06}")).collect(),
            ),
            (
                "shared suffix",
                (0..n).map(|i| format!("{i:07}-passage")).collect(),
            ),
            (
                "shared 8-byte prefix, long keys",
                (0..n).map(|i| format!("entity::{i:08}")).collect(),
            ),
        ]
    }

    #[test]
    fn crafted_key_sets_spread_like_random_keys() {
        let n = 1 << 16;
        let bits = 17;
        let mut rng = crate::rng::Rng::new(3);
        let random: Vec<String> = (0..n).map(|_| format!("{:016x}", rng.next_u64())).collect();
        // n keys into 2n buckets: about 2n (1 - e^-0.5) = 0.787 n buckets used, with a standard
        // deviation under 0.002 n; a flooding set uses a handful.
        let expected = (1u64 << bits) as f64 * (1.0 - (-(n as f64) / (1u64 << bits) as f64).exp());
        let state = foldhash::fast::RandomState::default();
        let baseline = buckets(&state, &random, bits) as f64;
        assert!(
            (baseline - expected).abs() < 0.01 * n as f64,
            "{baseline} vs {expected}"
        );
        let old = std::hash::BuildHasherDefault::<IdHasher>::default();
        let mut old_floods = 0;
        for (name, keys) in crafted(n) {
            let used = buckets(&state, &keys, bits) as f64;
            // Within 1% of n of the random keys' count (seven standard deviations).
            assert!(
                used > baseline - 0.01 * n as f64,
                "{name}: {used} buckets, random keys use {baseline}"
            );
            // The sets really are adversarial to the fixed hash this replaced.
            if (buckets(&old, &keys, bits) as f64) < 0.5 * baseline {
                old_floods += 1;
            }
        }
        assert!(
            old_floods >= 2,
            "only {old_floods} crafted sets flood the old hash"
        );
    }

    #[test]
    fn each_map_has_its_own_seed() {
        let a = foldhash::fast::RandomState::default();
        let b = foldhash::fast::RandomState::default();
        let differ = (0..16).any(|i| a.hash_one(format!("k{i}")) != b.hash_one(format!("k{i}")));
        assert!(differ, "two maps hash every key alike");
    }
}
