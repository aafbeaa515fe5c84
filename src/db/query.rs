//! Personalized PageRank on a snapshot, by node keys and relation names.

use crate::error::ReadError;
use std::collections::HashMap;
use std::time::Instant;

use super::Snapshot;
use crate::error::{Error, InputError, Result};
use crate::graph::{NodeId, RelId};
use crate::ppr::{self, Accuracy, Guarantee, Method, PprQuery, PprWorkspace};

/// A PPR request in the database's terms (keys and names, not ids).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct PprRequest {
    /// Seed keys with weights (> 0; normalised to sum 1).
    pub seeds: Vec<(String, f64)>,
    /// Restart probability; `None` uses the database's.
    pub alpha: Option<f64>,
    /// How many results.
    pub top_k: usize,
    /// How to answer.
    pub method: Method,
    /// Per-relation weight multipliers for this query only (0 removes a relation).
    pub rel_weights: Vec<(String, f64)>,
    /// Rank only nodes whose key starts with this prefix (seeds still count for the walk).
    pub node_prefix: Option<String>,
    /// What the answer must guarantee (default: every score within 1e-4, the exact top-k).
    pub accuracy: Accuracy,
    /// An explicit push threshold: `Push` then runs one uncertified push at it, `Index` plain
    /// FORA pushing to it (no guarantee).
    pub push_r_max: Option<f64>,
}

impl PprRequest {
    /// A request with defaults: top 10, automatic method, the database's alpha.
    pub fn new(seeds: Vec<(String, f64)>) -> PprRequest {
        PprRequest {
            seeds,
            alpha: None,
            top_k: 10,
            method: Method::Auto,
            rel_weights: Vec::new(),
            node_prefix: None,
            accuracy: Accuracy::default(),
            push_r_max: None,
        }
    }
}

/// The answer to a [`PprRequest`].
#[derive(Clone, Debug, PartialEq)]
pub struct PprAnswer {
    /// The method that ran.
    pub method: Method,
    /// The restart probability used.
    pub alpha: f64,
    /// `(key, score)` by descending score.
    pub results: Vec<(String, f64)>,
    /// Upper bound on the L1 error of the score vector (infinite for Monte Carlo walks).
    pub error_bound: f64,
    /// What the answer guarantees about its scores and set.
    pub guarantee: Guarantee,
    /// Microseconds spent, key lookups and projection included.
    pub micros: u64,
}

impl Snapshot {
    /// Reads and checks every block of this snapshot's walk index now instead of on first
    /// touch (the index is served from its file's map, and each block is checked when a query
    /// first reads it). Optional: for benchmarks that want warm pages, and for a service that
    /// prefers to pay the page faults at start.
    pub fn load_walk_index(&self) -> Result<(), ReadError> {
        let walks = &self.version().walks;
        walks
            .index
            .check_base()
            .map_err(|e| walks.error(e))
            .map_err(Into::into)
    }

    /// Ids of the nodes whose key starts with `prefix`, ascending: a range scan of the
    /// catalog's key table plus the keys created since the last checkpoint (no table of every
    /// node).
    pub fn nodes_with_prefix(&self, prefix: &str) -> Result<Vec<NodeId>, ReadError> {
        let count = self.node_count();
        // Names before the catalog, held across both reads (see `Snapshot::node_keys`).
        let names = self.inner.names.read();
        let mut ids = self.inner.catalog.node_ids_with_prefix(prefix)?;
        ids.extend(
            names
                .new_keys
                .iter()
                .enumerate()
                .filter(|(_, key)| key.starts_with(prefix))
                .map(|(i, _)| names.new_keys_base + i as NodeId),
        );
        ids.retain(|&id| id < count);
        ids.sort_unstable();
        ids.dedup();
        Ok(ids)
    }

    /// Answers a PPR request on this snapshot.
    pub fn ppr(
        &self,
        request: &PprRequest,
        workspace: &mut PprWorkspace,
    ) -> Result<PprAnswer, ReadError> {
        let started = Instant::now();
        let alpha = request.alpha.unwrap_or(self.inner.options.alpha);
        let seeds = self.seed_ids(&request.seeds)?;
        let base = self.projection();
        let graph = if request.rel_weights.is_empty() {
            base
        } else {
            let mut multipliers: HashMap<RelId, f64> = HashMap::new();
            for (name, w) in &request.rel_weights {
                let rel = self
                    .relation_id(name)
                    .ok_or_else(|| InputError::UnknownRelation { name: name.clone() })?;
                multipliers.insert(rel, *w);
            }
            std::sync::Arc::new(
                ppr::reweight_relations(&base, &multipliers).map_err(InputError::Query)?,
            )
        };
        let member = match &request.node_prefix {
            Some(prefix) => Some(self.nodes_with_prefix(prefix)?),
            None => None,
        };
        let filter = |v: NodeId| member.as_ref().is_none_or(|m| m.binary_search(&v).is_ok());
        let mut query = PprQuery::new(seeds, alpha)
            .top_k(request.top_k)
            .method(request.method);
        query.push_r_max = request.push_r_max;
        query.accuracy = request.accuracy;
        if member.is_some() {
            query = query.target_filter(&filter);
        }
        // The walk index serves Index queries without relation weights (the stored walks
        // follow the stored weights); every snapshot, old or new, reads the index of its own
        // version, with no lock. Otherwise the query runs without it and the answer names the
        // fallback. `Auto` does not use it (see `Method::Auto`).
        let walks = &self.version().walks;
        if request.rel_weights.is_empty() && request.method == Method::Index {
            query = query.walk_index(&walks.index);
        }
        let result = ppr::ppr(&graph, &query, workspace).map_err(|e| match e {
            ppr::QueryError::WalkIndexDamaged { offset, reason } => {
                Error::corrupt(&*walks.file, offset, reason)
            }
            e => InputError::Query(e).into(),
        })?;
        drop(query);
        let mut answer = self.answer(result)?;
        answer.micros = started.elapsed().as_micros() as u64;
        Ok(answer)
    }

    /// Answers many requests in parallel on the current rayon pool, in input order, each to
    /// its target. Requests on the stored weights with no node prefix (and not `Index`) are
    /// answered together by [`ppr::ppr_batch`], where certified-push queries share their
    /// node-order sweeps: their answers meet the same target as [`Snapshot::ppr`]'s but may
    /// differ from them within what both guarantee. Other requests get [`Snapshot::ppr`]'s.
    pub fn ppr_batch(
        &self,
        requests: &[PprRequest],
    ) -> Vec<std::result::Result<PprAnswer, ReadError>> {
        use rayon::prelude::*;
        let mut answers: Vec<Option<std::result::Result<PprAnswer, ReadError>>> = Vec::new();
        answers.resize_with(requests.len(), || None);
        let mut together: Vec<usize> = Vec::new();
        let mut queries: Vec<PprQuery<'static>> = Vec::new();
        let mut alone: Vec<usize> = Vec::new();
        for (i, request) in requests.iter().enumerate() {
            if !request.rel_weights.is_empty()
                || request.node_prefix.is_some()
                || request.method == Method::Index
            {
                alone.push(i);
                continue;
            }
            match self.seed_ids(&request.seeds) {
                Ok(seeds) => {
                    let alpha = request.alpha.unwrap_or(self.inner.options.alpha);
                    let mut query = PprQuery::new(seeds, alpha)
                        .top_k(request.top_k)
                        .method(request.method);
                    query.push_r_max = request.push_r_max;
                    query.accuracy = request.accuracy;
                    together.push(i);
                    queries.push(query);
                }
                Err(e) => answers[i] = Some(Err(e)),
            }
        }
        let single: Vec<(usize, std::result::Result<PprAnswer, ReadError>)> = alone
            .par_iter()
            .map_init(PprWorkspace::new, |ws, &i| (i, self.ppr(&requests[i], ws)))
            .collect();
        for (i, answer) in single {
            answers[i] = Some(answer);
        }
        let graph = self.projection();
        let results = ppr::ppr_batch(&graph, &queries);
        for (i, result) in together.iter().zip(results) {
            answers[*i] = Some(
                result
                    .map_err(|e| InputError::Query(e).into())
                    .and_then(|result| self.answer(result)),
            );
        }
        // Every request was answered alone, together or by its seed lookup.
        answers
            .into_iter()
            .map(|a| a.unwrap_or_else(|| Err(InputError::Query(ppr::QueryError::NoSeeds).into())))
            .collect()
    }

    /// The ids of seed keys; an unknown key is an error naming it.
    fn seed_ids(
        &self,
        seeds: &[(String, f64)],
    ) -> std::result::Result<Vec<(NodeId, f64)>, ReadError> {
        let mut ids = Vec::with_capacity(seeds.len());
        for (key, weight) in seeds {
            let id = self
                .node_id(key)?
                .ok_or_else(|| InputError::UnknownNode { key: key.clone() })?;
            ids.push((id, *weight));
        }
        Ok(ids)
    }

    /// An answer in keys from a result in ids.
    fn answer(&self, result: ppr::PprResult) -> std::result::Result<PprAnswer, ReadError> {
        let mut results = Vec::with_capacity(result.top.len());
        for (id, score) in result.top {
            let key = self.node_key(id)?.unwrap_or_else(|| format!("#{id}"));
            results.push((key, score));
        }
        Ok(PprAnswer {
            method: result.method,
            alpha: result.alpha,
            results,
            error_bound: result.error_bound,
            guarantee: result.guarantee,
            micros: result.elapsed.as_micros() as u64,
        })
    }
}
