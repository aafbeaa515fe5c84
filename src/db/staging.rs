//! Applying logical operations to a version: shared by live transactions and WAL replay, so
//! recovery rebuilds exactly the state the live process published.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::Version;
use crate::adjacency::{Delta, GraphView, Segment};
use crate::error::{Error, Result};
use crate::graph::NodeId;
use crate::wal::{Op, RecoveredTxn};

/// A version being changed.
#[derive(Debug, Clone)]
pub(crate) struct Staging {
    pub(crate) segment: Arc<Segment>,
    pub(crate) delta: Delta,
    pub(crate) node_count: u32,
    pub(crate) edge_count: u64,
    pub(crate) relation_count: u32,
    pub(crate) undirected: bool,
    pub(crate) lsn: u64,
    /// The checkpointed generation the version is built on, and its checkpoint LSN.
    pub(crate) generation: u64,
    pub(crate) checkpoint_lsn: u64,
    /// Nodes whose walkable links changed since `touched` was last cleared.
    pub(crate) touched: BTreeSet<NodeId>,
}

impl Staging {
    pub(crate) fn new(
        segment: Arc<Segment>,
        node_count: u32,
        edge_count: u64,
        relation_count: u32,
        undirected: bool,
    ) -> Staging {
        Staging {
            segment,
            delta: Delta::default(),
            node_count,
            edge_count,
            relation_count,
            undirected,
            lsn: 0,
            generation: 0,
            checkpoint_lsn: 0,
            touched: BTreeSet::new(),
        }
    }

    pub(crate) fn new_empty() -> Staging {
        Staging::new(Arc::new(Segment::empty()), 0, 0, 0, false)
    }

    pub(crate) fn from_version(version: &Version) -> Staging {
        Staging {
            segment: Arc::clone(&version.view.segment),
            delta: version.view.delta.clone(),
            node_count: version.view.node_count,
            edge_count: version.edge_count,
            relation_count: version.relation_count,
            undirected: version.view.undirected,
            lsn: version.lsn,
            generation: version.generation,
            checkpoint_lsn: version.checkpoint_lsn,
            touched: BTreeSet::new(),
        }
    }

    pub(crate) fn into_version(
        mut self,
        segment: &Arc<Segment>,
        undirected: bool,
        walks: super::walks::WalkState,
    ) -> Version {
        self.delta.seal();
        Version {
            lsn: self.lsn,
            generation: self.generation,
            checkpoint_lsn: self.checkpoint_lsn,
            view: GraphView {
                segment: Arc::clone(segment),
                delta: self.delta,
                node_count: self.node_count,
                undirected,
            },
            edge_count: self.edge_count,
            relation_count: self.relation_count,
            walks,
            projection: Default::default(),
            recycle_to: None,
            changed: super::projection::Changed::Nodes(self.touched.iter().copied().collect()),
            epoch: 0,
        }
    }

    /// A view of the staged graph (cheap: seals the pending lists, then clones pointers).
    pub(crate) fn view(&mut self) -> GraphView {
        self.delta.seal();
        GraphView {
            segment: Arc::clone(&self.segment),
            delta: self.delta.clone(),
            node_count: self.node_count,
            undirected: self.undirected,
        }
    }

    fn touch_edge(&mut self, src: NodeId, dst: NodeId) {
        self.touched.insert(src);
        if self.undirected {
            self.touched.insert(dst);
        }
    }

    /// Applies one operation; `Err` names what is inconsistent (the caller adds where).
    pub(crate) fn apply(&mut self, op: &Op) -> std::result::Result<(), String> {
        let node_ok = |id: NodeId, count: u32| {
            if id < count {
                Ok(())
            } else {
                Err(format!("node id {id} is not below the node count {count}"))
            }
        };
        match op {
            Op::NewNode { id, .. } => {
                if *id != self.node_count {
                    return Err(format!("new node id {id}, expected {}", self.node_count));
                }
                self.node_count += 1;
            }
            Op::NewRelation { id, .. } => {
                if *id != self.relation_count {
                    return Err(format!(
                        "new relation id {id}, expected {}",
                        self.relation_count
                    ));
                }
                self.relation_count += 1;
            }
            &Op::PutEdge {
                src,
                rel,
                dst,
                weight,
            } => {
                node_ok(src, self.node_count)?;
                node_ok(dst, self.node_count)?;
                if rel >= self.relation_count {
                    return Err(format!(
                        "relation id {rel} is not below {}",
                        self.relation_count
                    ));
                }
                if !(weight.is_finite() && weight > 0.0) {
                    return Err(format!("weight {weight} is not finite and > 0"));
                }
                if self
                    .delta
                    .put_edge(&self.segment, src, rel, dst, weight)
                    .is_none()
                {
                    self.edge_count += 1;
                }
                self.touch_edge(src, dst);
            }
            &Op::DelEdge { src, rel, dst } => {
                node_ok(src, self.node_count)?;
                node_ok(dst, self.node_count)?;
                if self.delta.del_edge(&self.segment, src, rel, dst).is_none() {
                    return Err(format!(
                        "deleted edge {src} -[{rel}]-> {dst} does not exist"
                    ));
                }
                self.edge_count -= 1;
                self.touch_edge(src, dst);
            }
            &Op::DelNode { node } => {
                node_ok(node, self.node_count)?;
                let removed = self.delta.del_node(&self.segment, node);
                self.edge_count -= removed.len() as u64;
                self.touched.insert(node);
                for (src, _, dst, _) in removed {
                    self.touch_edge(src, dst);
                }
            }
        }
        Ok(())
    }

    /// Re-applies a committed transaction read from the WAL.
    pub(crate) fn replay(
        &mut self,
        txn: &RecoveredTxn,
        new_keys: &mut Vec<String>,
        relations: &mut Vec<String>,
    ) -> Result<()> {
        for op in &txn.ops {
            self.apply(op).map_err(|what| {
                Error::corrupt(
                    &txn.file,
                    txn.offset,
                    format!("transaction LSN {}: {what}", txn.lsn),
                )
            })?;
            match op {
                Op::NewNode { key, .. } => new_keys.push(key.clone()),
                Op::NewRelation { name, .. } => relations.push(name.clone()),
                _ => {}
            }
        }
        self.lsn = txn.lsn;
        Ok(())
    }
}
