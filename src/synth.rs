//! Synthetic graphs for accuracy tests and benchmarks beside the real data: a power-law graph
//! (Barabasi-Albert preferential attachment), R-MAT edges (the scale benchmarks' graphs, with
//! extreme hubs) and a HippoRAG-shaped entity-passage graph with the dense reset vectors
//! HippoRAG 2 queries use.
//!
//! Both are pure functions of their parameters and seed, and emit [`Edge`]s with dense node ids
//! plus the node keys, so they load into a [`CsrGraph`] directly or into a database as TSV.

use crate::graph::{CsrGraph, Edge, NodeId};
use crate::rng::Rng;

/// One R-MAT edge on `2^scale` nodes (quadrant probabilities a = 0.57, b = c = 0.19,
/// d = 0.05: a power law with hubs at low ids), drawing `scale` floats from `rng`.
pub fn rmat_edge(rng: &mut Rng, scale: u32) -> (u64, u64) {
    let (mut u, mut v) = (0u64, 0u64);
    for _ in 0..scale {
        let x = rng.next_f64();
        let (bu, bv) = if x < 0.57 {
            (0, 0)
        } else if x < 0.76 {
            (0, 1)
        } else if x < 0.95 {
            (1, 0)
        } else {
            (1, 1)
        };
        u = u << 1 | bu;
        v = v << 1 | bv;
    }
    (u, v)
}

/// A generated graph: keys by node id, relation names by id, and the stored edges.
#[derive(Clone, Debug)]
pub struct SynthGraph {
    /// Node keys by id.
    pub keys: Vec<String>,
    /// Relation names by id.
    pub relations: Vec<String>,
    /// The stored edges.
    pub edges: Vec<Edge>,
}

impl SynthGraph {
    /// The link CSR in the given mode.
    pub fn csr(&self, undirected: bool) -> CsrGraph {
        CsrGraph::from_edges(self.keys.len(), &self.edges, undirected)
    }

    /// The edges as TSV lines `src<TAB>relation<TAB>dst<TAB>weight`.
    pub fn to_tsv(&self) -> String {
        let mut out = String::with_capacity(self.edges.len() * 24);
        for e in &self.edges {
            out.push_str(&self.keys[e.src as usize]);
            out.push('\t');
            out.push_str(&self.relations[e.rel as usize]);
            out.push('\t');
            out.push_str(&self.keys[e.dst as usize]);
            out.push('\t');
            out.push_str(&e.weight.to_string());
            out.push('\n');
        }
        out
    }
}

/// Barabasi-Albert: `nodes` nodes, each new node linking to `per_node` earlier nodes chosen
/// with probability proportional to their degree (so the average degree is about
/// `2 * per_node` and the degree distribution a power law with exponent 3, with hubs of degree
/// about `per_node * sqrt(nodes)`). Edges point from the new node to the old one; repeated
/// picks give parallel edges (distinct relations `r0`, `r1`, ... so none replaces another),
/// and a node may link to itself through the seed clique, so multi-edges and self-loops occur
/// as in real knowledge graphs. Weights are 1.
pub fn barabasi_albert(nodes: usize, per_node: usize, seed: u64) -> SynthGraph {
    let per_node = per_node.max(1);
    let mut rng = Rng::from_parts(&[0x4241, seed]);
    let mut edges = Vec::with_capacity(nodes * per_node);
    // Each edge adds both ends here: a uniform pick from it is a degree-proportional pick.
    let mut ends: Vec<NodeId> = Vec::with_capacity(2 * nodes * per_node);
    let clique = (per_node + 1).min(nodes);
    for u in 0..clique as NodeId {
        for v in 0..u {
            edges.push(Edge {
                src: u,
                rel: 0,
                dst: v,
                weight: 1.0,
            });
            ends.extend([u, v]);
        }
    }
    // One self-loop in the clique, so the generator always exercises them.
    if clique > 0 {
        edges.push(Edge {
            src: 0,
            rel: 0,
            dst: 0,
            weight: 1.0,
        });
        ends.extend([0, 0]);
    }
    let mut rels_used = 1;
    let mut picks: Vec<NodeId> = Vec::with_capacity(per_node);
    for u in clique..nodes {
        picks.clear();
        for _ in 0..per_node {
            picks.push(ends[rng.below(ends.len() as u64) as usize]);
        }
        picks.sort_unstable();
        let mut repeat = 0u32;
        for (i, &v) in picks.iter().enumerate() {
            repeat = if i > 0 && picks[i - 1] == v {
                repeat + 1
            } else {
                0
            };
            rels_used = rels_used.max(repeat as usize + 1);
            edges.push(Edge {
                src: u as NodeId,
                rel: repeat,
                dst: v,
                weight: 1.0,
            });
            ends.extend([u as NodeId, v]);
        }
    }
    SynthGraph {
        keys: (0..nodes).map(|i| format!("n{i}")).collect(),
        relations: (0..rels_used).map(|r| format!("r{r}")).collect(),
        edges,
    }
}

/// The shape of a HippoRAG-style knowledge graph.
#[derive(Clone, Copy, Debug)]
pub struct HippoShape {
    /// Passage nodes.
    pub passages: usize,
    /// Entity nodes.
    pub entities: usize,
    /// Entities mentioned per passage.
    pub entities_per_passage: usize,
    /// Relation triples (entity-entity edges) extracted per passage.
    pub triples_per_passage: usize,
    /// Fraction of entities with a synonym edge to another entity.
    pub synonym_fraction: f64,
}

impl Default for HippoShape {
    fn default() -> HippoShape {
        HippoShape {
            passages: 10_000,
            entities: 40_000,
            entities_per_passage: 8,
            triples_per_passage: 6,
            synonym_fraction: 0.15,
        }
    }
}

/// A HippoRAG 2-shaped graph: passage nodes `p<i>` linked to the entities they mention
/// (`contains`), entity-entity edges from extracted triples (between entities of one passage,
/// relation names drawn from a small vocabulary), and `synonym` edges weighted by a similarity
/// in [0.8, 1). Entity popularity is Zipf-like (a few entities appear in thousands of
/// passages, as "United States" does in Wikipedia), so the graph has hubs. Meant to be loaded
/// undirected, as HippoRAG 2 does. Passages are ids `0..passages`, entities follow.
pub fn hipporag_graph(shape: HippoShape, seed: u64) -> SynthGraph {
    let mut rng = Rng::from_parts(&[0x4850, seed]);
    let p = shape.passages;
    let ne = shape.entities.max(1);
    let mut keys: Vec<String> = (0..p).map(|i| format!("p{i}")).collect();
    keys.extend((0..ne).map(|i| format!("e{i}")));
    let entity = |i: usize| (p + i) as NodeId;
    // Zipf(1) over entities by inverse-CDF on a precomputed table.
    let mut cdf = Vec::with_capacity(ne);
    let mut total = 0.0;
    for i in 0..ne {
        total += 1.0 / (i as f64 + 1.0);
        cdf.push(total);
    }
    let zipf = |rng: &mut Rng| {
        let x = rng.next_f64() * total;
        cdf.partition_point(|&c| c < x).min(ne - 1)
    };
    let mut relations = vec!["contains".to_string(), "synonym".to_string()];
    relations.extend((0..20).map(|r| format!("rel{r}")));
    let mut edges = Vec::new();
    let mut mentioned: Vec<usize> = Vec::new();
    for passage in 0..p {
        mentioned.clear();
        while mentioned.len() < shape.entities_per_passage.min(ne) {
            let e = zipf(&mut rng);
            if !mentioned.contains(&e) {
                mentioned.push(e);
            }
        }
        for &e in &mentioned {
            edges.push(Edge {
                src: passage as NodeId,
                rel: 0,
                dst: entity(e),
                weight: 1.0,
            });
        }
        for _ in 0..shape.triples_per_passage {
            let a = mentioned[rng.below(mentioned.len() as u64) as usize];
            let b = mentioned[rng.below(mentioned.len() as u64) as usize];
            if a != b {
                edges.push(Edge {
                    src: entity(a),
                    rel: 2 + rng.below(20) as u32,
                    dst: entity(b),
                    weight: 1.0,
                });
            }
        }
    }
    for e in 0..ne {
        if rng.bernoulli(shape.synonym_fraction) {
            let other = rng.below(ne as u64) as usize;
            if other != e {
                edges.push(Edge {
                    src: entity(e),
                    rel: 1,
                    dst: entity(other),
                    weight: 0.8 + 0.2 * rng.next_f64(),
                });
            }
        }
    }
    // Identical (src, rel, dst) triples would replace each other in a database: keep the
    // first of each, so the edge list is what a database built from it holds.
    let mut seen = std::collections::HashSet::new();
    edges.retain(|e| seen.insert((e.src, e.rel, e.dst)));
    SynthGraph {
        keys,
        relations,
        edges,
    }
}

/// A HippoRAG 2 query's reset vector: `entity_seeds` entities chosen among those mentioned by
/// a random passage and its neighbours (weight 1 each, as HippoRAG 2 weights fact entities)
/// plus every passage node with a small weight (HippoRAG 2's dense-passage reset, scaled by
/// `passage_weight` times a random similarity in (0, 1]). `graph` must come from
/// [`hipporag_graph`] with the same `shape`.
pub fn hipporag_query(
    graph: &SynthGraph,
    shape: HippoShape,
    entity_seeds: usize,
    passage_weight: f64,
    seed: u64,
) -> Vec<(NodeId, f64)> {
    let mut rng = Rng::from_parts(&[0x4851, seed]);
    let mut reset: Vec<(NodeId, f64)> = Vec::with_capacity(shape.passages + entity_seeds);
    // Entities of a few random passages (the edges of passage i come first in its block).
    let mut pool: Vec<NodeId> = Vec::new();
    for _ in 0..3 {
        let passage = rng.below(shape.passages.max(1) as u64) as NodeId;
        pool.extend(
            graph
                .edges
                .iter()
                .filter(|e| e.src == passage && e.rel == 0)
                .map(|e| e.dst),
        );
    }
    pool.sort_unstable();
    pool.dedup();
    for _ in 0..entity_seeds.min(pool.len()) {
        let i = rng.below(pool.len() as u64) as usize;
        reset.push((pool.swap_remove(i), 1.0));
    }
    for passage in 0..shape.passages {
        let similarity = 1.0 - rng.next_f64(); // (0, 1]
        reset.push((passage as NodeId, passage_weight * similarity));
    }
    reset
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Adjacency;

    #[test]
    fn barabasi_albert_has_the_asked_degree_hubs_multi_edges_and_self_loops() {
        let g = barabasi_albert(5_000, 16, 7);
        let csr = g.csr(true);
        let avg = csr.link_count() as f64 / csr.node_count() as f64;
        assert!((30.0..34.0).contains(&avg), "average degree {avg}");
        let max = (0..csr.node_count() as NodeId)
            .map(|v| csr.degree(v))
            .max()
            .unwrap_or(0);
        assert!(max > 10 * 32, "largest degree {max}: no hub");
        assert!(g.edges.iter().any(|e| e.src == e.dst));
        assert!(g.edges.iter().any(|e| e.rel > 0), "no parallel edges");
        // Deterministic in its seed.
        assert_eq!(
            barabasi_albert(500, 4, 7).edges,
            barabasi_albert(500, 4, 7).edges
        );
    }

    #[test]
    fn hipporag_graph_and_query_have_their_shape() {
        let shape = HippoShape {
            passages: 300,
            entities: 1_000,
            ..HippoShape::default()
        };
        let g = hipporag_graph(shape, 1);
        assert_eq!(g.keys.len(), 1_300);
        assert!(g.edges.iter().any(|e| e.rel == 1));
        let q = hipporag_query(&g, shape, 6, 0.05, 2);
        assert_eq!(q.len(), 306);
        assert!(q.iter().all(|&(_, w)| w > 0.0 && w.is_finite()));
        assert_eq!(q.iter().filter(|&&(v, _)| (v as usize) < 300).count(), 300);
    }
}
