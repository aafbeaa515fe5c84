//! Interning: the one path by which a write transaction and a bulk load give a new node key or
//! relation name its id.

use crate::error::Result;
use crate::graph::validate_key;
use crate::hash::KeyMap;

/// Ids handed out by one write (a transaction or a bulk load) for one kind of name: keys
/// created here, numbered on from the stored count, plus a memo of stored ids looked up.
#[derive(Debug)]
pub(crate) struct Interner {
    /// "node key" or "relation name", for error messages.
    what: &'static str,
    /// The first id this interner hands out (the stored count when the write began).
    first: u32,
    /// Names created here, in id order from `first`.
    created: Vec<Box<str>>,
    /// Every name resolved here, created or stored.
    ids: KeyMap<Box<str>, u32>,
    /// Refuses an id past the kind's limit.
    limit: fn(u32) -> Result<()>,
}

impl Interner {
    pub(crate) fn new(what: &'static str, first: u32, limit: fn(u32) -> Result<()>) -> Interner {
        Interner {
            what,
            first,
            created: Vec::new(),
            ids: KeyMap::default(),
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

    /// The id of `name` if this interner has resolved or created it.
    pub(crate) fn get(&self, name: &str) -> Option<u32> {
        self.ids.get(name).copied()
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
            self.ids.insert(name.into(), id);
            return Ok((id, false));
        }
        validate_key(name, self.what)?;
        let id = self.next_id();
        (self.limit)(id)?;
        self.created.push(name.into());
        self.ids.insert(name.into(), id);
        Ok((id, true))
    }

    /// The id the next created name gets.
    pub(crate) fn next_id(&self) -> u32 {
        self.first + self.created.len() as u32
    }

    /// Names created here with their ids, in id order.
    pub(crate) fn created(&self) -> impl Iterator<Item = (u32, &str)> + '_ {
        self.created
            .iter()
            .enumerate()
            .map(|(i, name)| (self.first + i as u32, &**name))
    }

    /// Takes the created names, in id order.
    pub(crate) fn take_created(&mut self) -> Vec<Box<str>> {
        std::mem::take(&mut self.created)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
