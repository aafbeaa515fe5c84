//! Read snapshots.

use crate::error::ReadError;
use std::sync::Arc;

use super::{Inner, Version};
use crate::adjacency::GraphView;
use crate::error::Result;
use crate::graph::{Adjacency, CsrGraph, Link, NodeId, RelId};

/// A consistent, read-only view of one committed version. Never sees half a transaction;
/// keeps the files it reads alive until dropped.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub(super) inner: Arc<Inner>,
    version: Arc<Version>,
}

/// An iterator over one node's out- or in-edges: `(other node, relation, weight)`.
#[derive(Clone, Debug)]
pub struct Edges<'a>(crate::adjacency::view::EdgeIter<'a>);

impl Iterator for Edges<'_> {
    type Item = (NodeId, RelId, f64);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next()
    }
}

/// One edge of a node, in keys and names: the other endpoint, the relation, the weight.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Neighbor {
    /// Key of the other endpoint (the destination of an out-edge, the source of an in-edge).
    pub key: String,
    /// Name of the edge's relation.
    pub relation: String,
    /// The edge's weight.
    pub weight: f64,
}

impl Snapshot {
    /// The published version this snapshot reads.
    pub(crate) fn version(&self) -> &Arc<Version> {
        &self.version
    }

    pub(crate) fn new(inner: Arc<Inner>, version: Arc<Version>) -> Snapshot {
        Snapshot { inner, version }
    }

    pub(crate) fn view(&self) -> &GraphView {
        &self.version.view
    }

    /// LSN of the last transaction this snapshot includes.
    pub fn lsn(&self) -> u64 {
        self.version.lsn
    }

    /// Number of node ids (ids are `0..node_count`; a deleted node keeps its id, without edges).
    pub fn node_count(&self) -> u32 {
        self.version.view.node_count
    }

    /// Number of live edges.
    pub fn edge_count(&self) -> u64 {
        self.version.edge_count
    }

    /// Number of relations.
    pub fn relation_count(&self) -> u32 {
        self.version.relation_count
    }

    /// True when every edge is walkable both ways.
    pub fn undirected(&self) -> bool {
        self.version.view.undirected
    }

    /// The id of a node key.
    pub fn node_id(&self, key: &str) -> Result<Option<NodeId>, ReadError> {
        crate::Database {
            inner: Arc::clone(&self.inner),
        }
        .lookup_node(key, self.node_count())
        .map_err(Into::into)
    }

    /// The key of a node id.
    pub fn node_key(&self, id: NodeId) -> Result<Option<String>, ReadError> {
        if id >= self.node_count() {
            return Ok(None);
        }
        {
            let names = self.inner.names.read();
            if id >= names.new_keys_base {
                return Ok(names
                    .new_keys
                    .get((id - names.new_keys_base) as usize)
                    .cloned());
            }
        }
        self.inner.catalog.node_key(id).map_err(Into::into)
    }

    /// Every node key, indexed by id.
    pub fn node_keys(&self) -> Result<Vec<String>, ReadError> {
        // The names lock is taken before the catalog is read and held until both are merged:
        // a checkpoint commits keys to the catalog and only then (under the write lock) drops
        // them from `names`, so catalog and names read under one read lock always overlap.
        // (Read the other way round, a checkpoint in between left the ids it moved out of both
        // and shifted every later key to a wrong id.)
        let names = self.inner.names.read();
        let mut keys = self.inner.catalog.node_keys()?;
        keys.truncate(names.new_keys_base as usize);
        keys.extend(names.new_keys.iter().cloned());
        keys.truncate(self.node_count() as usize);
        Ok(keys)
    }

    /// The id of a relation name.
    pub fn relation_id(&self, name: &str) -> Option<RelId> {
        self.inner
            .names
            .read()
            .relation_ids
            .get(name)
            .copied()
            .filter(|&id| id < self.relation_count())
    }

    /// Every relation name, indexed by id.
    pub fn relation_names(&self) -> Vec<String> {
        let names = self.inner.names.read();
        names
            .relations
            .iter()
            .take(self.relation_count() as usize)
            .cloned()
            .collect()
    }

    /// Calls `f(src, dst, relation, weight)` for every live edge, by source then (dst,
    /// relation): one sequential pass over the segment's columns (the delta's lists in place of
    /// the nodes changed since the checkpoint). The fastest way to read the whole graph.
    pub fn for_each_edge(&self, f: impl FnMut(NodeId, NodeId, RelId, f64)) {
        self.view().for_each_edge(f);
    }

    /// Out-edges of the node `key`, sorted by (destination id, relation); an unknown key is an
    /// input error.
    pub fn out_neighbors(&self, key: &str) -> Result<Vec<Neighbor>, ReadError> {
        let u = self.require_node(key)?;
        self.neighbors(self.out_edges(u)).map_err(Into::into)
    }

    /// In-edges of the node `key`, sorted by (source id, relation); an unknown key is an input
    /// error.
    pub fn in_neighbors(&self, key: &str) -> Result<Vec<Neighbor>, ReadError> {
        let v = self.require_node(key)?;
        self.neighbors(self.in_edges(v)).map_err(Into::into)
    }

    /// The weight of edge `src -[rel]-> dst`, `None` when there is no such edge (or no such
    /// node or relation).
    pub fn edge_weight(&self, src: &str, rel: &str, dst: &str) -> Result<Option<f64>, ReadError> {
        let (Some(u), Some(v), Some(r)) = (
            self.node_id(src)?,
            self.node_id(dst)?,
            self.relation_id(rel),
        ) else {
            return Ok(None);
        };
        Ok(self
            .out_edges(u)
            .find(|&(d, rr, _)| d == v && rr == r)
            .map(|(_, _, w)| w))
    }

    fn require_node(&self, key: &str) -> Result<NodeId> {
        self.node_id(key)?.ok_or_else(|| {
            crate::InputError::UnknownNode {
                key: key.to_string(),
            }
            .into()
        })
    }

    fn neighbors(&self, edges: Edges<'_>) -> Result<Vec<Neighbor>> {
        let relations = self.relation_names();
        edges
            .map(|(other, rel, weight)| {
                Ok(Neighbor {
                    key: self.node_key(other)?.unwrap_or_else(|| format!("#{other}")),
                    relation: relations
                        .get(rel as usize)
                        .cloned()
                        .unwrap_or_else(|| format!("#{rel}")),
                    weight,
                })
            })
            .collect()
    }

    /// Out-edges of `u`: (dst, relation, weight), sorted by (dst, relation).
    pub fn out_edges(&self, u: NodeId) -> Edges<'_> {
        Edges(self.version.view.out_edges(u))
    }

    /// In-edges of `v`: (src, relation, weight), sorted by (src, relation).
    pub fn in_edges(&self, v: NodeId) -> Edges<'_> {
        Edges(self.version.view.in_edges(v))
    }

    /// The walkable links of `u` (out-edges; in undirected mode also in-edges reversed).
    pub fn links(&self, u: NodeId) -> impl Iterator<Item = Link> + '_ {
        self.version.view.links(u)
    }

    /// Number of walkable links of `u` (`links(u).count()`), read from the offsets alone: a
    /// whole-graph pass over it touches no edge column (walkdb-dist balances its node ranges
    /// by it).
    pub fn link_count(&self, u: NodeId) -> usize {
        self.version.view.link_count(u)
    }

    /// The in-memory CSR projection PPR runs on, built once per version and shared.
    pub fn projection(&self) -> Arc<CsrGraph> {
        self.inner.projections.note_demand(self.version.lsn);
        // Built once per version, by its first query (or by the writer before publishing it);
        // readers of other versions never wait for it (the cell is the version's own, and the
        // shared cache's lock is never held across a build).
        Arc::clone(
            self.version
                .projection
                .get_or_init(|| super::projection::build(&self.inner, &self.version)),
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use crate::db::projection::EAGER_PROJECTION_WINDOW;
    use crate::graph::{Adjacency, CsrGraph};
    use crate::{Database, Durability};

    /// The projection a version has, checked against a full build of its graph.
    fn check_prebuilt(db: &Database) -> bool {
        let snap = db.begin_read().unwrap();
        let Some(graph) = snap.version.projection.get() else {
            return false;
        };
        let full = CsrGraph::from_adjacency(&snap.version.view);
        assert_eq!(graph.node_count(), full.node_count());
        for u in 0..full.node_count() as u32 {
            assert!(graph.links(u).eq(full.links(u)), "links of {u}");
            assert_eq!(graph.weight_sum(u), full.weight_sum(u));
        }
        true
    }

    fn commit(db: &Database, round: usize) {
        let mut txn = db.begin_write().unwrap();
        for k in 0..5 {
            let (a, b) = (
                format!("n{}", (round * 7 + k) % 40),
                format!("n{}", round % 13),
            );
            txn.add_edge(&a, "r", &b, 1.0 + k as f64).unwrap();
        }
        if round % 3 == 2 {
            txn.delete_edge("n0", "r", &format!("n{}", round % 13))
                .unwrap();
        }
        txn.commit().unwrap();
    }

    /// Once a reader asked for a projection, every commit publishes its version with the
    /// projection built (equal to a full build) and a checkpoint keeps it; when readers stop
    /// asking, the writer stops building after the window.
    #[test]
    fn the_writer_builds_projections_readers_ask_for() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::builder(dir.path().join("db"))
            .undirected(true)
            .durability(Durability::None)
            .create()
            .unwrap();
        commit(&db, 0);
        commit(&db, 1);
        assert!(!check_prebuilt(&db), "nobody asked yet");
        db.begin_read().unwrap().projection();
        for round in 2..8 {
            commit(&db, round);
            assert!(check_prebuilt(&db), "commit {round}");
        }
        db.checkpoint().unwrap();
        assert!(check_prebuilt(&db), "after the checkpoint");
        commit(&db, 8);
        assert!(check_prebuilt(&db), "the commit after the checkpoint");
        // Nobody asks any more: built for the window's commits, then not.
        let asked = db.begin_read().unwrap().lsn();
        db.begin_read().unwrap().projection();
        for round in 9..9 + EAGER_PROJECTION_WINDOW as usize + 2 {
            commit(&db, round);
            let lsn = db.begin_read().unwrap().lsn();
            assert_eq!(
                check_prebuilt(&db),
                lsn <= asked + EAGER_PROJECTION_WINDOW,
                "commit at lsn {lsn}, last asked at {asked}"
            );
        }
    }
}
