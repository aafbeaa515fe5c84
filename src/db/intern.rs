//! Interning: the one path by which a write transaction and a bulk load give a new node key or
//! relation name its id.

use std::hash::BuildHasher;

use crate::error::Result;
use crate::graph::validate_key;
use crate::hash::KeyMap;

/// Ids handed out by one write (a transaction or a bulk load) for one kind of name: keys
/// created here, numbered on from the stored count, plus a memo of stored ids looked up.
///
/// Created names are stored once, concatenated in one string, and found through a table of
/// [`Slot`]s hashed by name (seeded per interner, see `crate::hash`): 33-65 bytes per name (a
/// 24-byte slot and a control byte at the table's load, 8 bytes of end offset) plus its text,
/// where a map of boxed strings beside a list of them cost about 150 (a bulk load of 17M keys
/// would hold 2.5 GB for its names alone). A slot holds where its name is (or, up to 16 bytes,
/// the name itself), so a lookup on a table larger than the caches costs the table's miss and
/// at most one into the text, not also one into `ends`.
#[derive(Debug)]
pub(crate) struct Interner {
    /// "node key" or "relation name", for error messages.
    what: &'static str,
    /// The first id this interner hands out (the stored count when the write began).
    first: u32,
    /// The names created here, concatenated in id order.
    text: String,
    /// Where each created name ends in `text`.
    ends: Vec<usize>,
    /// Created names, by the hash of the name's bytes.
    table: hashbrown::HashTable<Slot>,
    hasher: foldhash::fast::RandomState,
    /// Stored names resolved here.
    stored: KeyMap<Box<str>, u32>,
    /// Refuses an id past the kind's limit.
    limit: fn(u32) -> Result<()>,
}

/// One created name in an interner's table: its index (id - first) and where it is.
#[derive(Clone, Copy, Debug)]
struct Slot {
    index: u32,
    len: u32,
    /// Names of up to [`INLINE`] bytes: the bytes, zero-padded; longer ones: the name's start
    /// in the text, in the first word.
    at: [u64; 2],
}

/// Names up to this many bytes live in their slot (16: a hex digest of 64 bits, a Wikidata
/// id, `n<integer>` up to 15 digits).
const INLINE: usize = 16;

/// A name of at most [`INLINE`] bytes as a slot's `at`: its bytes, zero-padded, as two
/// little-endian words (longer names give zeros; they are never packed). Fixed-size loads
/// that overlap where the name is shorter than their sum, instead of a copy of variable
/// length (a `memcpy` call per lookup).
#[inline]
fn pack(name: &[u8]) -> [u64; 2] {
    fn word8(b: &[u8]) -> u64 {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[..8]);
        u64::from_le_bytes(w)
    }
    fn word4(b: &[u8]) -> u64 {
        let mut w = [0u8; 4];
        w.copy_from_slice(&b[..4]);
        u32::from_le_bytes(w) as u64
    }
    let len = name.len();
    match len {
        // The last 8 bytes, shifted so that byte 8 of the name lands at byte 0 (the bytes
        // the first word already holds go out at the bottom).
        9..=INLINE => [word8(name), word8(&name[len - 8..]) >> ((INLINE - len) * 8)],
        8 => [word8(name), 0],
        // The first 4 bytes and the last 4 at their places: where they overlap, both hold
        // the same bytes.
        4..=7 => [word4(name) | word4(&name[len - 4..]) << ((len - 4) * 8), 0],
        0..=3 => {
            let mut w = 0u64;
            for (i, &b) in name.iter().enumerate() {
                w |= (b as u64) << (8 * i);
            }
            [w, 0]
        }
        _ => [0, 0],
    }
}

/// The bytes [`pack`] packed.
#[inline]
fn unpack(at: [u64; 2]) -> [u8; INLINE] {
    let mut bytes = [0u8; INLINE];
    bytes[..8].copy_from_slice(&at[0].to_le_bytes());
    bytes[8..].copy_from_slice(&at[1].to_le_bytes());
    bytes
}

impl Slot {
    /// The name's bytes: from the slot itself (`buf` holds them) or from `text`.
    #[inline]
    fn name<'a>(&self, text: &'a str, buf: &'a mut [u8; INLINE]) -> &'a [u8] {
        let len = self.len as usize;
        if len <= INLINE {
            *buf = unpack(self.at);
            &buf[..len]
        } else {
            let at = self.at[0] as usize;
            text.as_bytes().get(at..at + len).unwrap_or_default()
        }
    }

    /// True when the slot holds `name`.
    #[inline]
    fn holds(&self, text: &str, name: &[u8]) -> bool {
        if self.len as usize != name.len() {
            return false;
        }
        if name.len() <= INLINE {
            return self.at == pack(name);
        }
        let at = self.at[0] as usize;
        text.as_bytes().get(at..at + name.len()) == Some(name)
    }
}

/// Created name `i` of an interner's text.
fn name_at<'a>(text: &'a str, ends: &[usize], i: u32) -> &'a str {
    let end = ends[i as usize];
    let start = match i {
        0 => 0,
        _ => ends[i as usize - 1],
    };
    &text[start..end]
}

impl Interner {
    pub(crate) fn new(what: &'static str, first: u32, limit: fn(u32) -> Result<()>) -> Interner {
        Interner {
            what,
            first,
            text: String::new(),
            ends: Vec::new(),
            table: hashbrown::HashTable::new(),
            hasher: foldhash::fast::RandomState::default(),
            stored: KeyMap::default(),
            limit,
        }
    }

    /// Nodes: ids up to the node limit.
    pub(crate) fn nodes(first: u32) -> Interner {
        Interner::new("node key", first, crate::graph::check_new_node)
    }

    /// Relations: ids up to the u32 range.
    pub(crate) fn relations(first: u32) -> Interner {
        Interner::new("relation name", first, |_| Ok(()))
    }

    /// The hash [`Interner::created_id`] takes for `name`.
    #[inline]
    pub(crate) fn hash(&self, name: &str) -> u64 {
        self.hasher.hash_one(name.as_bytes())
    }

    /// The id of `name` if this interner created it, given `hash = self.hash(name)`: a lookup
    /// in the table alone, short enough that a loop of them overlaps their cache misses.
    #[inline]
    pub(crate) fn created_id(&self, name: &str, hash: u64) -> Option<u32> {
        let text = &self.text;
        self.table
            .find(hash, |slot| slot.holds(text, name.as_bytes()))
            .map(|slot| self.first + slot.index)
    }

    /// The id of `name` if this interner has resolved or created it.
    pub(crate) fn get(&self, name: &str) -> Option<u32> {
        let hash = self.hasher.hash_one(name.as_bytes());
        let text = &self.text;
        match self
            .table
            .find(hash, |slot| slot.holds(text, name.as_bytes()))
        {
            Some(slot) => Some(self.first + slot.index),
            None => self.stored.get(name).copied(),
        }
    }

    /// The id of `name`: resolved before, else `stored(name)`, else a new id (the name checked
    /// by [`validate_key`] and the id by the kind's limit). `true` with a new id.
    pub(crate) fn intern(
        &mut self,
        name: &str,
        stored: impl FnOnce(&str) -> Result<Option<u32>>,
    ) -> Result<(u32, bool)> {
        if let Some(id) = self.get(name) {
            return Ok((id, false));
        }
        if let Some(id) = stored(name)? {
            self.stored.insert(name.into(), id);
            return Ok((id, false));
        }
        validate_key(name, self.what)?;
        let id = self.next_id();
        (self.limit)(id)?;
        let slot = Slot {
            index: self.ends.len() as u32,
            // `validate_key` bounds a key's length far below u32.
            len: name.len() as u32,
            at: if name.len() <= INLINE {
                pack(name.as_bytes())
            } else {
                [self.text.len() as u64, 0]
            },
        };
        self.text.push_str(name);
        self.ends.push(self.text.len());
        let hash = self.hasher.hash_one(name.as_bytes());
        let (text, hasher) = (&self.text, &self.hasher);
        self.table.insert_unique(hash, slot, |slot| {
            hasher.hash_one(slot.name(text, &mut [0; INLINE]))
        });
        Ok((id, true))
    }

    /// The id the next created name gets.
    pub(crate) fn next_id(&self) -> u32 {
        self.first + self.ends.len() as u32
    }

    /// Names created here with their ids, in id order.
    pub(crate) fn created(&self) -> impl Iterator<Item = (u32, &str)> + '_ {
        (0..self.ends.len() as u32).map(|i| (self.first + i, name_at(&self.text, &self.ends, i)))
    }

    /// Takes the created names, in id order.
    pub(crate) fn take_created(&mut self) -> Vec<Box<str>> {
        let names = self.created().map(|(_, n)| Box::from(n)).collect();
        self.first = self.next_id();
        self.text.clear();
        self.ends.clear();
        self.table.clear();
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `pack` equals the plain copy into a zero-padded 16-byte array, at every length.
    #[test]
    fn pack_is_the_zero_padded_bytes() {
        let bytes: Vec<u8> = (1..=16u8).map(|b| b.wrapping_mul(37) | 1).collect();
        for len in 0..=INLINE {
            let name = &bytes[..len];
            let mut padded = [0u8; INLINE];
            padded[..len].copy_from_slice(name);
            assert_eq!(unpack(pack(name)), padded, "length {len}");
        }
        // A trailing zero byte packs as the padding does: slots compare lengths first.
        let (a, b) = ("ab", "ab\0");
        let mut nodes = Interner::nodes(0);
        assert_eq!(nodes.intern(a, |_| Ok(None)).unwrap(), (0, true));
        assert_eq!(nodes.get(b), None);
    }

    #[test]
    fn names_are_numbered_on_from_the_stored_count_and_checked_once() {
        let mut nodes = Interner::nodes(10);
        let stored = |name: &str| Ok((name == "old").then_some(3));
        assert_eq!(nodes.intern("a", stored).unwrap(), (10, true));
        assert_eq!(nodes.intern("old", stored).unwrap(), (3, false));
        assert_eq!(
            nodes.intern("a", |_| panic!("memoized")).unwrap(),
            (10, false)
        );
        assert_eq!(
            nodes.intern("old", |_| panic!("memoized")).unwrap(),
            (3, false)
        );
        assert!(nodes.intern("bad\tkey", stored).unwrap_err().is_input());
        assert_eq!(nodes.intern("b", stored).unwrap(), (11, true));
        assert_eq!(
            nodes.created().collect::<Vec<_>>(),
            vec![(10, "a"), (11, "b")]
        );
        let mut full = Interner::nodes(crate::graph::MAX_NODES);
        assert!(full
            .intern("one too many", |_| Ok(None))
            .unwrap_err()
            .is_input());
        assert_eq!(full.created().count(), 0);
    }

    /// Many names (the table grows and rehashes from the text): each keeps its id, lookups
    /// find created and stored names, and the created list comes out in id order.
    #[test]
    fn many_names_keep_their_ids_through_growth() {
        let mut nodes = Interner::nodes(5);
        let stored = |name: &str| Ok(name.strip_prefix("old").map(|_| 1));
        for i in 0..20_000u32 {
            let name = format!("k{}", i.wrapping_mul(2_654_435_761));
            assert_eq!(nodes.intern(&name, stored).unwrap(), (5 + i, true));
        }
        assert_eq!(nodes.intern("old-x", stored).unwrap(), (1, false));
        for i in (0..20_000u32).step_by(7) {
            let name = format!("k{}", i.wrapping_mul(2_654_435_761));
            assert_eq!(nodes.get(&name), Some(5 + i));
        }
        assert_eq!(nodes.get("old-x"), Some(1));
        assert_eq!(nodes.get("missing"), None);
        let created: Vec<(u32, String)> =
            nodes.created().map(|(id, n)| (id, n.to_string())).collect();
        assert_eq!(created.len(), 20_000);
        assert_eq!(
            created[3],
            (8, format!("k{}", 3u32.wrapping_mul(2_654_435_761)))
        );
        let taken = nodes.take_created();
        assert_eq!(taken.len(), 20_000);
        assert_eq!(nodes.next_id(), 20_005);
    }
}
