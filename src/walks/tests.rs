//! Unit tests of the walk index: repair rules by simulation, faulty repair modes rejected by
//! the statistical check, determinism, file-format damage, verify, FORA estimates, proptest.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use super::testkit::{changes, run_random_ops, statistical_check, GraphModel};
use super::*;
use crate::graph::{Adjacency, CsrGraph, Edge, NodeId};
use crate::rng::Rng;

fn edge(src: NodeId, dst: NodeId, weight: f64) -> Edge {
    Edge {
        src,
        rel: 0,
        dst,
        weight,
    }
}

fn params(alpha: f64, walks_per_node: f64) -> WalkIndexParams {
    WalkIndexParams {
        alpha,
        walks_per_node,
        seed: 17,
    }
}

// ---------------------------------------------------------------------------------------------
// Repair rules on a tiny graph: after the repair, the first step of the walks that existed
// before must follow the fresh distribution a'(0, x) / W'(0) within 5 standard errors.

/// Walk ids from `start` and the walks themselves, before a change.
fn snapshot(index: &WalkIndex, start: NodeId) -> Vec<(u32, Vec<NodeId>, WalkEnd)> {
    index
        .walks_from(start)
        .expect("readable")
        .into_iter()
        .map(|w| (w.id, w.nodes.to_vec(), w.end))
        .collect()
}

/// Checks that among the pre-existing walks in `ids` whose visit at position `pos` is at `u`
/// and moved on, the next node is distributed as `expected` (target -> probability).
fn assert_step_distribution(
    index: &WalkIndex,
    ids: &[u32],
    pos: usize,
    expected: &[(NodeId, f64)],
    what: &str,
) {
    let mut counts = std::collections::BTreeMap::new();
    let mut moved = 0.0;
    for &id in ids {
        let w = index
            .walk(id)
            .expect("readable")
            .expect("pre-existing walk still stored");
        if let Some(&x) = w.nodes.get(pos + 1) {
            *counts.entry(x).or_insert(0.0) += 1.0;
            moved += 1.0;
        }
    }
    assert!(moved > 1000.0, "{what}: too few moves ({moved}) to test");
    for &(x, p) in expected {
        let got = counts.remove(&x).unwrap_or(0.0) / moved;
        let se = (p * (1.0 - p) / moved).sqrt().max(1e-9);
        assert!(
            (got - p).abs() < 5.0 * se,
            "{what}: P(step to {x}) = {got:.4}, expected {p:.4} (se {se:.4})"
        );
    }
    assert!(
        counts.is_empty(),
        "{what}: steps to unexpected targets {counts:?}"
    );
}

fn star(weights: &[(NodeId, f64)]) -> CsrGraph {
    // Node 0 links to the listed targets; node 4 feeds walks into 0; nodes 1..=3, 5 dangling.
    let mut edges: Vec<Edge> = weights.iter().map(|&(t, w)| edge(0, t, w)).collect();
    edges.push(edge(4, 0, 1.0));
    CsrGraph::from_edges(6, &edges, false)
}

/// Applies the change from `before` to `after` at node 0 and checks the first step of the
/// walks that started at 0 before the change.
fn check_rule(before: &[(NodeId, f64)], after: &[(NodeId, f64)], what: &str) {
    let g0 = star(before);
    let mut index =
        WalkIndex::build(&g0, params(0.3, 20_000.0 / before.len().max(1) as f64)).expect("build");
    let old = snapshot(&index, 0);
    let ids: Vec<u32> = old.iter().map(|w| w.0).collect();
    let stopped_at_start = old
        .iter()
        .filter(|w| w.1.len() == 1 && w.2 == WalkEnd::Stopped)
        .count();
    let g1 = star(after);
    index
        .apply(&g1, &changes(&g0, &g1, &[0]), 7)
        .expect("apply");
    index.verify(&g1).expect("verify after repair");
    let w_new: f64 = after.iter().map(|p| p.1).sum();
    let expected: Vec<(NodeId, f64)> = after.iter().map(|&(t, w)| (t, w / w_new)).collect();
    let ids: Vec<u32> = ids
        .into_iter()
        .filter(|&id| {
            index
                .walk(id)
                .expect("readable")
                .is_some_and(|w| w.nodes[0] == 0)
        })
        .collect();
    assert_step_distribution(&index, &ids, 0, &expected, what);
    // Walks that stopped at 0 are never touched by a change of 0's links.
    for (id, nodes, end) in &old {
        if nodes.len() == 1 && *end == WalkEnd::Stopped && ids.contains(id) {
            let w = index.walk(*id).expect("readable").expect("kept walk");
            assert!(
                w.nodes == [0] && w.end == WalkEnd::Stopped,
                "{what}: stopped walk {id} changed"
            );
        }
    }
    assert!(
        stopped_at_start > 1000,
        "{what}: too few stopped walks to check"
    );
}

#[test]
fn rule_weight_added_as_new_edge() {
    check_rule(
        &[(1, 1.0), (2, 2.0), (3, 1.0)],
        &[(1, 1.0), (2, 2.0), (3, 1.0), (5, 2.0)],
        "new edge",
    );
}

#[test]
fn rule_existing_edge_raised() {
    check_rule(
        &[(1, 1.0), (2, 2.0), (3, 1.0)],
        &[(1, 3.0), (2, 2.0), (3, 1.0)],
        "raised",
    );
}

#[test]
fn rule_edge_lowered() {
    check_rule(
        &[(1, 1.0), (2, 2.0), (3, 1.0)],
        &[(1, 1.0), (2, 0.5), (3, 1.0)],
        "lowered",
    );
}

#[test]
fn rule_edge_deleted() {
    check_rule(
        &[(1, 1.0), (2, 2.0), (3, 1.0)],
        &[(1, 1.0), (2, 2.0)],
        "deleted",
    );
}

#[test]
fn rule_several_changes_at_one_node_in_one_pass() {
    check_rule(
        &[(1, 1.0), (2, 2.0), (3, 1.0)],
        &[(1, 0.2), (2, 4.0), (5, 1.5)],
        "combined",
    );
}

#[test]
fn rule_last_edge_deleted_kills_the_walks_there() {
    let g0 = star(&[(1, 1.0), (2, 2.0)]);
    let mut index = WalkIndex::build(&g0, params(0.3, 5000.0)).expect("build");
    let g1 = star(&[]);
    index
        .apply(&g1, &changes(&g0, &g1, &[0]), 9)
        .expect("apply");
    index.verify(&g1).expect("verify");
    // Walks from 4 move to 0 and must now end there, dying unless they stopped.
    let (mut died, mut at_zero) = (0.0f64, 0.0f64);
    for w in index.walks_from(4).expect("readable") {
        if w.nodes.len() > 1 {
            assert_eq!(w.nodes, &[4, 0]);
            at_zero += 1.0;
            died += (w.end == WalkEnd::Died) as u8 as f64;
        }
    }
    let se = (0.3 * 0.7 / at_zero).sqrt();
    assert!(
        (died / at_zero - 0.7).abs() < 5.0 * se,
        "died fraction {}",
        died / at_zero
    );
    assert_eq!(
        index.walk_count_from(0).expect("readable"),
        0,
        "a dangling node owns no walks"
    );
}

#[test]
fn rule_dangling_node_gaining_edges_resumes_exactly_the_walks_that_died_there() {
    let g0 = star(&[]);
    let mut index = WalkIndex::build(&g0, params(0.3, 40_000.0)).expect("build");
    let before = snapshot(&index, 4);
    let g1 = star(&[(1, 1.0), (2, 3.0)]);
    index
        .apply(&g1, &changes(&g0, &g1, &[0]), 11)
        .expect("apply");
    index.verify(&g1).expect("verify");
    for (id, nodes, end) in &before {
        let w = index.walk(*id).expect("readable").expect("walk kept");
        match (nodes.len(), end) {
            (2, WalkEnd::Died) => assert!(w.nodes.len() >= 3, "a walk that died at 0 must resume"),
            _ => assert_eq!(
                (w.nodes, w.end),
                (nodes.as_slice(), *end),
                "a stopped walk must be untouched"
            ),
        }
    }
    let resumed: Vec<u32> = before
        .iter()
        .filter(|w| w.1.len() == 2 && w.2 == WalkEnd::Died)
        .map(|w| w.0)
        .collect();
    assert_step_distribution(&index, &resumed, 1, &[(1, 0.25), (2, 0.75)], "resumed");
}

// ---------------------------------------------------------------------------------------------
// Statistical equivalence after 10,000 random operations, and the faulty modes it rejects.

fn stats_run(undirected: bool, mode: RepairMode, n_ops: usize) -> Result<String, String> {
    let mut rng = Rng::new(if undirected { 5 } else { 6 });
    let mut model = GraphModel::random(24, 60, undirected, &mut rng);
    let mut index = WalkIndex::build(&model.csr(), params(0.2, 150.0)).expect("build");
    index.mode = mode;
    let graph = run_random_ops(&mut index, &mut model, n_ops, 99, |_, _| {});
    if mode == RepairMode::Correct {
        index.verify(&graph).map_err(|e| e.to_string())?;
    }
    statistical_check(&index, &graph, 8)
}

#[test]
fn correct_repairs_pass_the_statistical_check_in_both_modes() {
    for undirected in [false, true] {
        let report = stats_run(undirected, RepairMode::Correct, 10_000);
        assert!(report.is_ok(), "undirected={undirected}: {report:?}");
    }
}

/// Operations applied before checking a faulty mode: the same check as for the correct mode,
/// on a shorter stream (1,000 operations): the faulty modes are slow (regrowing every walk
/// through a node makes walks ever longer) and their bias shows long before 10,000.
const FAULTY_OPS: usize = 1_000;

#[test]
fn every_faulty_repair_mode_fails_the_statistical_check() {
    for mode in [
        RepairMode::RegrowEveryWalkThroughNode,
        RepairMode::HalfStopTails,
        RepairMode::OnlyChangedPairs,
        RepairMode::VisitSet,
    ] {
        for undirected in [false, true] {
            let t = std::time::Instant::now();
            let result = stats_run(undirected, mode, FAULTY_OPS);
            eprintln!(
                "{mode:?} undirected={undirected}: {result:?} ({:.1} s)",
                t.elapsed().as_secs_f64()
            );
            assert!(
                result.is_err(),
                "{mode:?} undirected={undirected} passed: {result:?}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Determinism, save/load, file damage.

fn random_setup(seed: u64, undirected: bool) -> (GraphModel, WalkIndex) {
    let mut rng = Rng::new(seed);
    let model = GraphModel::random(40, 120, undirected, &mut rng);
    let index = WalkIndex::build(&model.csr(), params(0.15, 3.0)).expect("build");
    (model, index)
}

/// A seal that merges the visit records of its nodes in two halves on two threads writes
/// the same index, byte for byte, as one that merges them in turn.
#[test]
fn sealing_in_two_halves_equals_sealing_in_turn() {
    use super::store::TEST_PARALLEL_RECORDS;
    for undirected in [false, true] {
        let sealed = |threshold: usize| {
            TEST_PARALLEL_RECORDS.with(|c| c.set(threshold));
            let (mut model, mut index) = random_setup(5, undirected);
            run_random_ops(&mut index, &mut model, 200, 23, |_, _| {});
            TEST_PARALLEL_RECORDS.with(|c| c.set(usize::MAX));
            let mut bytes = Vec::new();
            index.encode_to(&mut bytes).expect("encode");
            (index, bytes)
        };
        let (in_turn, in_turn_bytes) = sealed(usize::MAX);
        let (halves, halves_bytes) = sealed(2);
        assert!(halves == in_turn, "undirected={undirected}");
        assert_eq!(halves_bytes, in_turn_bytes, "undirected={undirected}");
        assert_eq!(halves.overlay_bytes(), in_turn.overlay_bytes());
    }
}

/// Repairs of transactions large enough to be decided, grown and sealed on the thread pool
/// (hundreds of changed nodes, thousands of rerouted walks) give the index their sequential
/// form gives, byte for byte.
#[test]
fn large_repairs_split_over_threads_equal_sequential_ones() {
    use super::testkit::changes;
    use super::TEST_SEQUENTIAL;
    for undirected in [false, true] {
        let repaired = |sequential: bool| {
            TEST_SEQUENTIAL.with(|c| c.set(sequential));
            let mut rng = Rng::new(41);
            let mut model = GraphModel::random(600, 3000, undirected, &mut rng);
            let mut graph = model.csr();
            let mut index = WalkIndex::build(&graph, params(0.15, 2.0)).expect("build");
            let (mut largest, mut grown) = (0, 0);
            for lsn in 1..=4 {
                let mut touched = Vec::new();
                for _ in 0..300 {
                    touched.extend(model.random_op(&mut rng, 3000));
                }
                let next = model.csr();
                let delta = changes(&graph, &next, &touched);
                largest = largest.max(delta.len());
                let summary = index.apply(&next, &delta, lsn).expect("apply");
                grown = grown.max(summary.walks_regrown.max(summary.walks_added));
                graph = next;
            }
            TEST_SEQUENTIAL.with(|c| c.set(false));
            // Enough to go parallel: changes decided in chunks, walks grown in two halves.
            assert!(largest >= 128, "large transactions ({largest} changes)");
            assert!(grown >= 256, "large transactions ({grown} walks grown)");
            let mut bytes = Vec::new();
            index.encode_to(&mut bytes).expect("encode");
            bytes
        };
        assert!(repaired(true) == repaired(false), "undirected={undirected}");
    }
}

#[test]
fn build_does_not_depend_on_thread_count() {
    let (model, _) = random_setup(1, true);
    let g = model.csr();
    let pool = |n| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .expect("pool")
    };
    let a = pool(1).install(|| WalkIndex::build(&g, params(0.15, 3.0)).expect("build"));
    let b = pool(2).install(|| WalkIndex::build(&g, params(0.15, 3.0)).expect("build"));
    assert!(a == b);
    a.verify(&g).expect("verify");
    let c = WalkIndex::build(
        &g,
        WalkIndexParams {
            seed: 18,
            ..params(0.15, 3.0)
        },
    )
    .expect("build");
    assert!(a != c, "a different seed must give different walks");
}

#[test]
fn the_prefix_and_guided_steps_decide_as_the_scan_does() {
    // Weights spanning many magnitudes (so running sums round), parallel links, self-loops.
    let mut rng = Rng::new(5);
    for round in 0..300u64 {
        let degree = 1 + rng.below(40) as usize;
        let targets: Vec<NodeId> = (0..degree).map(|_| rng.below(10) as NodeId).collect();
        let weights: Vec<f64> = (0..degree)
            .map(|_| 10f64.powi(rng.below(20) as i32 - 10) * (1.0 + rng.next_f64()))
            .collect();
        let mut prefix = Vec::with_capacity(degree);
        let mut acc = 0.0;
        for &w in &weights {
            acc += w;
            prefix.push(acc);
        }
        let mut guide = Vec::new();
        build_guide(&prefix, &mut guide);
        assert_eq!(guide.len(), prefix.len());
        for k in 0..50u32 {
            let draws = BuildDraws::new(round, 3, k);
            for position in 0..4 {
                let links =
                    targets
                        .iter()
                        .zip(&weights)
                        .map(|(&target, &weight)| crate::graph::Link {
                            target,
                            rel: 0,
                            weight,
                        });
                let scan = build_step(0.2, &draws, position, links, acc);
                let search = build_step_prefix(0.2, &draws, position, &targets, &prefix);
                let guided = build_step_guided(0.2, &draws, position, &targets, &prefix, &guide);
                assert_eq!(scan, search, "round {round}, walk {k}, position {position}");
                assert_eq!(scan, guided, "round {round}, walk {k}, position {position}");
            }
        }
    }
    // Unit weights: the unit step picks the scan's link, at every degree up to past a few
    // thousand (where a bad floor or clamp would show at the ends of the range).
    for round in 0..200u64 {
        let degree = 1 + rng.below(if round % 10 == 0 { 5000 } else { 70 }) as usize;
        let targets: Vec<NodeId> = (0..degree as NodeId).collect();
        for k in 0..200u32 {
            let draws = BuildDraws::new(round, 4, k);
            for position in 0..3 {
                let links = targets.iter().map(|&target| crate::graph::Link {
                    target,
                    rel: 0,
                    weight: 1.0,
                });
                let scan = build_step(0.1, &draws, position, links, degree as f64);
                let unit = build_step_unit(0.1, &draws, position, &targets);
                assert_eq!(scan, unit, "round {round}, walk {k}, position {position}");
            }
        }
    }
    // A dangling node dies (unless it stops first) in both.
    let draws = BuildDraws::new(1, 1, 1);
    let died = (0..20)
        .filter(|&p| build_step_prefix(0.2, &draws, p, &[], &[]) == BuildStep::Die)
        .count();
    assert!(died > 0);
    for p in 0..20 {
        assert_eq!(
            build_step_prefix(0.2, &draws, p, &[], &[]),
            build_step(0.2, &draws, p, std::iter::empty(), 0.0)
        );
    }
}

#[test]
fn save_load_then_repair_equals_repair_without_save() {
    for undirected in [false, true] {
        let (mut model, mut live) = random_setup(2, undirected);
        // Transaction stream A, then save and reload.
        let mut model_b = model.clone();
        run_random_ops(&mut live, &mut model, 300, 21, |_, _| {});
        let mut bytes = Vec::new();
        live.encode_to(&mut bytes).expect("encode");
        assert_eq!(bytes.len(), live.encoded_len().expect("readable"));
        let mut reloaded = WalkIndex::decode(&bytes).expect("decode");
        assert!(reloaded == live);
        // Transaction stream B on both.
        let mut model_reloaded = model.clone();
        let g1 = run_random_ops(&mut live, &mut model, 300, 22, |_, _| {});
        let g2 = run_random_ops(&mut reloaded, &mut model_reloaded, 300, 22, |_, _| {});
        assert!(
            live == reloaded,
            "undirected={undirected}: replay after reload diverged"
        );
        live.verify(&g1).expect("verify live");
        reloaded.verify(&g2).expect("verify reloaded");
        // And the whole thing is a pure function: redo from scratch.
        let (_, mut again) = random_setup(2, undirected);
        run_random_ops(&mut again, &mut model_b, 300, 21, |_, _| {});
        run_random_ops(&mut again, &mut model_b, 300, 22, |_, _| {});
        assert!(again == live);
    }
}

#[test]
fn every_single_byte_corruption_and_every_truncation_is_detected() {
    let mut rng = Rng::new(3);
    let mut model = GraphModel::random(8, 14, false, &mut rng);
    let mut index = WalkIndex::build(&model.csr(), params(0.3, 1.0)).expect("build");
    // Some repairs so the file has free slots and died walks.
    run_random_ops(&mut index, &mut model, 40, 4, |_, _| {});
    let mut bytes = Vec::new();
    index.encode_to(&mut bytes).expect("encode");
    assert!(WalkIndex::decode(&bytes).expect("decode") == index);
    for at in 0..bytes.len() {
        for flip in [0x01u8, 0x80, 0xFF] {
            let mut bad = bytes.clone();
            bad[at] ^= flip;
            let detected = matches!(WalkIndex::decode(&bad), Err(WalkIndexError::Corrupt { .. }));
            assert!(detected, "flip {flip:#x} at byte {at} not detected");
        }
    }
    for len in 0..bytes.len() {
        let detected = matches!(
            WalkIndex::decode(&bytes[..len]),
            Err(WalkIndexError::Corrupt { .. })
        );
        assert!(detected, "truncation to {len}");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(matches!(
        WalkIndex::decode(&longer),
        Err(WalkIndexError::Corrupt { .. })
    ));
}

#[test]
fn corrupt_error_names_section_and_offset() {
    let (_, index) = random_setup(4, false);
    let mut bytes = Vec::new();
    index.encode_to(&mut bytes).expect("encode");
    let header = WalkIndex::read_header(&bytes).expect("header");
    let nodes = &header.sections[2];
    assert_eq!(nodes.name, "walk nodes");
    let mut bad = bytes.clone();
    bad[nodes.offset as usize + 9] ^= 4;
    match WalkIndex::decode(&bad) {
        Err(WalkIndexError::Corrupt {
            section, offset, ..
        }) => {
            assert_eq!(section, "walk nodes");
            assert_eq!(offset, nodes.offset);
        }
        other => panic!("expected a corrupt error, got {other:?}"),
    }
}

/// Served in place, a damaged block is found by the first read that touches it (a typed
/// error naming the section and the block's offset), while reads of intact blocks go on.
#[test]
fn a_damaged_block_is_detected_on_first_touch_and_only_there() {
    let g = random_graph_with_blocks();
    let index = WalkIndex::build(&g, params(0.2, 8.0)).expect("build");
    let mut bytes = Vec::new();
    index.encode_to(&mut bytes).expect("encode");
    let header = WalkIndex::read_header(&bytes).expect("header");
    let nodes = &header.sections[2];
    assert!(
        nodes.length > 2 * header.block_size,
        "the walk nodes span several blocks"
    );
    // Damage the last block of the walk nodes.
    let at = (nodes.offset + nodes.length - 4) as usize;
    let mut bad = bytes.clone();
    bad[at] ^= 0x10;
    let served = WalkIndex::open_bytes(crate::backend::FileBytes::from_vec(bad), u64::MAX)
        .expect("opening reads the header and block checksums only");
    assert!(
        served.base_blocks_checked().0 <= 1,
        "at most the free-id block was read"
    );
    let last_block = nodes.offset + (nodes.length - 1) / header.block_size * header.block_size;
    let (mut ok, mut damaged) = (0, 0);
    for id in 0..served.slot_count() as u32 {
        match served.walk(id) {
            Ok(w) => {
                assert_eq!(w, index.walk(id).expect("readable"));
                ok += 1;
            }
            Err(WalkIndexError::Corrupt {
                section, offset, ..
            }) => {
                assert_eq!((section, offset), ("walk nodes", last_block));
                damaged += 1;
            }
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert!(ok > 0 && damaged > 0, "ok {ok}, damaged {damaged}");
    assert!(served.check_base().is_err());
    let (checked, total) = served.base_blocks_checked();
    assert!(checked < total, "the damaged block is never marked checked");
}

/// A graph whose index spans several 64 KiB blocks per column.
fn random_graph_with_blocks() -> CsrGraph {
    let mut rng = Rng::new(17);
    let n = 3000u32;
    let edges: Vec<_> = (0..20_000)
        .map(|_| edge(rng.below(n as u64) as u32, rng.below(n as u64) as u32, 1.0))
        .collect();
    CsrGraph::from_edges(n as usize, &edges, true)
}

/// Copy-on-write: a clone taken before a repair (a published version) keeps its walks and
/// records bit for bit, while the repaired index changes; both verify against their graphs.
#[test]
fn a_clone_taken_before_a_repair_keeps_its_own_walks() {
    let mut rng = Rng::new(8);
    let mut model = GraphModel::random(40, 160, true, &mut rng);
    let mut index = WalkIndex::build(&model.csr(), params(0.3, 2.0)).expect("build");
    // Rounds that ended with some visit lists kept as patches of older ones.
    let mut patched = 0;
    for round in 0..20 {
        let before_graph = model.csr();
        let published = index.clone();
        let frozen = index.folded().expect("fold");
        run_random_ops(&mut index, &mut model, 5, 90 + round, |_, _| {});
        if round % 4 == 3 {
            // Compaction rewrites the live overlay entries into new blocks: same content.
            let before = index.folded().expect("fold");
            index.compact();
            assert!(
                index == before,
                "round {round}: compaction changed the index"
            );
        }
        assert!(
            published == frozen,
            "round {round}: a published clone changed"
        );
        published.verify(&before_graph).expect("old clone verifies");
        index.verify(&model.csr()).expect("repaired index verifies");
        patched += usize::from(index.overlay_patches() > 0);
        for u in 0..40 {
            assert_eq!(
                published.visit_records_at(u).expect("readable"),
                frozen.visit_records_at(u).expect("readable")
            );
            // A patched list's stored length is the merged list's.
            assert_eq!(
                index.recorded_visits_at(u).expect("readable"),
                index.visit_records_at(u).expect("readable").len()
            );
        }
    }
    assert!(patched > 0, "no round kept a patch");
    assert!(index.overlay_walks() > 0 && index.overlay_bytes() > 0);
    // Folding keeps the logical content and empties the overlay.
    let folded = index.folded().expect("fold");
    assert!(folded == index);
    assert_eq!(folded.overlay_walks(), 0);
    folded.verify(&model.csr()).expect("folded verifies");
}

// ---------------------------------------------------------------------------------------------
// verify.

/// The directed cycle 0 -> 1 -> 2 -> 0 with a dead end 2 -> 3, and its index at alpha 0.2 with
/// 50 walks per link (many walks of three nodes and more).
fn cycle_with_a_dead_end() -> (CsrGraph, WalkIndex) {
    let g = CsrGraph::from_edges(
        4,
        &[
            edge(0, 1, 1.0),
            edge(1, 2, 1.0),
            edge(2, 0, 1.0),
            edge(2, 3, 1.0),
        ],
        false,
    );
    let index = WalkIndex::build(&g, params(0.2, 50.0)).expect("build");
    (g, index)
}

#[test]
fn verify_catches_an_injected_bad_step_and_a_bad_end() {
    let (g, index) = cycle_with_a_dead_end();
    index.verify(&g).expect("fresh index verifies");
    let long = (0..index.slot_count() as u32)
        .find(|&id| {
            index
                .walk(id)
                .expect("readable")
                .is_some_and(|w| w.nodes.len() >= 3)
        })
        .expect("a walk of 3 nodes");
    let mut bad = index.clone();
    // Position 1 of a walk from 0 is node 1; make it 3 (0 -> 3 has no link).
    let w = bad
        .walk(long)
        .expect("readable")
        .expect("walk")
        .nodes
        .to_vec();
    bad.inject_node(long, 1, if w[1] == 3 { 0 } else { 3 });
    assert!(matches!(
        bad.verify(&g),
        Err(WalkIndexError::Inconsistent { walk: Some(_), .. })
    ));
    // A walk that claims to have died at a node with links.
    let mut bad = index.clone();
    let stopped = (0..bad.slot_count())
        .find(|&i| {
            bad.walk(i as u32)
                .expect("readable")
                .is_some_and(|w| w.end == WalkEnd::Stopped && w.nodes[w.nodes.len() - 1] != 3)
        })
        .expect("a stopped walk");
    bad.inject_end(stopped as u32, WalkEnd::Died);
    assert!(bad.verify(&g).is_err());
}

/// `verify` checks a chunk's steps together, but reports what a walk-by-walk pass reports:
/// the first broken walk in walk order, whether its fault is a step without a link or an end
/// at a node with links, and the step's position.
#[test]
fn verify_reports_the_first_broken_walk_in_walk_order() {
    let (g, index) = cycle_with_a_dead_end();
    let long: Vec<u32> = (0..index.slot_count() as u32)
        .filter(|&id| {
            index.walk(id).expect("readable").is_some_and(|w| {
                // Ends at a node with links, so that ending there by dying is a fault.
                w.nodes.len() >= 3 && w.end == WalkEnd::Stopped && w.nodes[w.nodes.len() - 1] != 3
            })
        })
        .collect();
    assert!(long.len() >= 2, "two walks of 3 nodes");
    let (early, late) = (long[0], long[long.len() - 1]);
    let break_step = |index: &mut WalkIndex, id: u32| {
        let w = index
            .walk(id)
            .expect("readable")
            .expect("walk")
            .nodes
            .to_vec();
        // Every node but 3 has one out-link; step 1 -> 2 becomes a step w[1] -> stray.
        let stray = (0..4)
            .find(|&v| g.links(w[1]).all(|l| l.target != v))
            .expect("stray");
        index.inject_node(id, 2, stray);
    };
    let reported = |index: &WalkIndex| match index.verify(&g) {
        Err(WalkIndexError::Inconsistent { walk, reason }) => (walk, reason),
        other => panic!("expected an inconsistency, got {other:?}"),
    };
    // Two bad steps: the earlier walk's, at its position 1.
    let mut bad = index.clone();
    break_step(&mut bad, late);
    break_step(&mut bad, early);
    let (walk, reason) = reported(&bad);
    assert_eq!(walk, Some(early));
    assert!(reason.starts_with("step 1 goes"), "{reason}");
    // A bad end before a bad step: the end.
    let mut bad = index.clone();
    break_step(&mut bad, late);
    bad.inject_end(early, WalkEnd::Died);
    let (walk, reason) = reported(&bad);
    assert_eq!(walk, Some(early));
    assert!(reason.contains("died"), "{reason}");
    // A bad step before a bad end: the step.
    let mut bad = index.clone();
    bad.inject_end(late, WalkEnd::Died);
    break_step(&mut bad, early);
    let (walk, reason) = reported(&bad);
    assert_eq!(walk, Some(early));
    assert!(reason.contains("without a link"), "{reason}");
}

// ---------------------------------------------------------------------------------------------
// FORA estimates against an exact power iteration.

/// Exact psi_s (leaky) by power iteration on pair weights.
fn exact_psi(graph: &CsrGraph, s: NodeId, alpha: f64) -> Vec<f64> {
    let n = graph.node_count();
    let mut x = vec![0.0; n];
    x[s as usize] = 1.0;
    let mut psi = vec![0.0; n];
    for _ in 0..400 {
        let mut next = vec![0.0; n];
        for u in 0..n as NodeId {
            psi[u as usize] += alpha * x[u as usize];
            let w = graph.weight_sum(u);
            if w > 0.0 {
                for l in graph.links(u) {
                    next[l.target as usize] += (1.0 - alpha) * x[u as usize] * l.weight / w;
                }
            }
        }
        x = next;
    }
    psi
}

#[test]
fn estimate_from_matches_exact_psi_for_index_alpha_and_a_larger_query_alpha() {
    let mut rng = Rng::new(8);
    let model = GraphModel::random(12, 20, false, &mut rng);
    let g = model.csr();
    let index = WalkIndex::build(&g, params(0.15, 20_000.0)).expect("build");
    let s = (0..12)
        .find(|&u| g.degree(u) > 0)
        .expect("a node with links");
    for alpha_q in [0.15, 0.5] {
        let est = index
            .estimate_from(s, usize::MAX, alpha_q, 1)
            .expect("estimate");
        let n = est.walks_used as f64;
        let exact = exact_psi(&g, s, alpha_q);
        for (t, &p) in exact.iter().enumerate() {
            let got = est
                .scores
                .iter()
                .find(|e| e.0 == t as NodeId)
                .map_or(0.0, |e| e.1);
            // Per-walk alpha*visits <= alpha*L; a loose variance bound: alpha * p * 2/alpha^2.
            let sd = (alpha_q * p * 2.0 / alpha_q + 1e-12).sqrt() / n.sqrt();
            assert!(
                (got - p).abs() < 5.0 * sd + 1e-9,
                "alpha {alpha_q} node {t}: {got} vs {p} (sd {sd})"
            );
        }
        let again = index.estimate_from(s, 100, alpha_q, 1).expect("estimate");
        assert_eq!(again.walks_used, 100);
        assert_eq!(
            again,
            index.estimate_from(s, 100, alpha_q, 1).expect("estimate")
        );
    }
    assert!(
        index.estimate_from(s, 10, 0.1, 1).is_err(),
        "smaller alpha cannot be served"
    );
    let dangling = (0..12).find(|&u| g.degree(u) == 0);
    if let Some(d) = dangling {
        let e = index.estimate_from(d, 10, 0.3, 1).expect("estimate");
        assert!(e.exact && e.scores == vec![(d, 0.3)]);
    }
}

// ---------------------------------------------------------------------------------------------
// Model-based: random operation sequences keep the index consistent.

mod prop {
    use super::*;
    use crate::rng::Rng;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]
        #[test]
        fn random_op_sequences_keep_the_index_consistent(
            seed in any::<u64>(),
            undirected in any::<bool>(),
            n_nodes in 2usize..12,
            n_edges in 0usize..20,
            n_ops in 1usize..60,
            walks_per_node in 0.3f64..4.0,
        ) {
            let mut rng = Rng::new(seed);
            let n_edges = n_edges.min(n_nodes * (n_nodes - 1) / 2);
            let mut model = GraphModel::random(n_nodes, n_edges, undirected, &mut rng);
            let mut index = WalkIndex::build(&model.csr(), params(0.25, walks_per_node)).expect("build");
            let mut failure = None;
            run_random_ops(&mut index, &mut model, n_ops, seed ^ 1, |index, graph| {
                if failure.is_none() {
                    if let Err(e) = index.verify(graph) {
                        failure = Some(e.to_string());
                    }
                }
            });
            prop_assert!(failure.is_none(), "{:?}", failure);
        }
    }
}

/// Visit-record changes are checked when a repair is sealed: removing a record that is not
/// there fails with `Inconsistent` (naming walk and node), and a visit list with changes
/// pending cannot be read before the seal.
#[test]
fn a_missing_visit_record_fails_the_seal() {
    let g = CsrGraph::from_edges(
        3,
        &[edge(0, 1, 1.0), edge(1, 2, 1.0), edge(2, 0, 1.0)],
        false,
    );
    let mut index = WalkIndex::build(&g, params(0.2, 4.0)).expect("build");
    let records = index.visit_records_at(1).expect("readable").to_vec();
    let absent = (0..index.slot_count() as u32)
        .find(|id| !records.contains(id))
        .expect("a walk that never moves on from node 1");
    let mut good = index.clone();
    if let Some(&present) = records.first() {
        good.remove_record(1, present);
        good.add_record(1, present);
        good.seal().expect("a removal of a present record seals");
        assert_eq!(good.visit_records_at(1).expect("readable"), &records[..]);
    }
    index.remove_record(1, absent);
    assert!(matches!(
        index.visit_records_at(1),
        Err(WalkIndexError::Inconsistent { .. })
    ));
    match index.seal() {
        Err(WalkIndexError::Inconsistent { walk, reason }) => {
            assert_eq!(walk, Some(absent));
            assert!(reason.contains("node 1"), "{reason}");
        }
        other => panic!("expected Inconsistent, got {other:?}"),
    }
}

/// A repair's step table picks what `sample_step` picks, draw for draw, and leaves the random
/// stream where `sample_step` leaves it: weights spanning many magnitudes (running sums that
/// round), parallel links, self-loops, dangling nodes, each node stepped from many times; and
/// unweighted graphs, whose steps go by position ([`Adjacency::unit_step`]).
#[test]
fn the_step_table_steps_as_the_scan_does() {
    use super::build::{sample_step, Step, StepTable};
    let mut rng = Rng::new(9);
    for round in 0..100u64 {
        let n = 2 + rng.below(12) as u32;
        let edges: Vec<Edge> = (0..rng.below(80))
            .map(|_| {
                edge(
                    rng.below(n as u64) as NodeId,
                    rng.below(n as u64) as NodeId,
                    // Every third graph unweighted: its steps go by position.
                    match round % 3 {
                        0 => 1.0,
                        _ => 10f64.powi(rng.below(20) as i32 - 10) * (1.0 + rng.next_f64()),
                    },
                )
            })
            .collect();
        let g = CsrGraph::from_edges(n as usize, &edges, round % 2 == 0);
        let unit = round % 3 == 0 && !edges.is_empty();
        assert_eq!(g.unit_step(0, |_| 0).is_some(), unit && g.degree(0) > 0);
        let mut table = StepTable::new(&g);
        let (mut a, mut b) = (Rng::new(round), Rng::new(round));
        for k in 0..400 {
            let u = (k % n) as NodeId;
            let w = g.weight_sum(u);
            let scan = if w > 0.0 {
                sample_step(&g, u, w, &mut a)
            } else {
                None
            };
            let table_step = match table.step(u, &mut b) {
                Step::Move(v) => Some(v),
                Step::Dangling => None,
            };
            assert_eq!(scan, table_step, "round {round}, step {k} from {u}");
            assert_eq!(a.next_u64(), b.next_u64(), "the streams stay in step");
        }
    }
}

/// Walks grown together end exactly as each grows alone by the plain rule (stop with
/// probability alpha or at the length cap, die at a dangling node, else step as the scan
/// does), whatever their number against the lanes: fewer, as many, many more; each with its
/// own alpha, on directed graphs with dangling nodes, weighted and unweighted; and enough of
/// them to be split between two threads, each half with its own step table.
#[test]
fn walks_grown_together_end_as_each_alone() {
    use super::build::{grow_par, sample_step, Growing, StepTable};
    use super::store::MAX_WALK_NODES;
    let mut rng = Rng::new(31);
    let mut walked = 0;
    for round in 0..60u64 {
        let n = 2 + rng.below(15) as u32;
        let edges: Vec<Edge> = (0..rng.below(60))
            .map(|_| {
                let w = if round % 2 == 0 {
                    1.0
                } else {
                    0.5 + rng.next_f64()
                };
                edge(
                    rng.below(n as u64) as NodeId,
                    rng.below(n as u64) as NodeId,
                    w,
                )
            })
            .collect();
        let g = CsrGraph::from_edges(n as usize, &edges, round % 3 == 0);
        let count = [0, 1, 7, 8, 9, 40, 300, 777][round as usize % 8];
        let walk = |k: u64| {
            let alpha = [0.05, 0.15, 0.5, 0.95][k as usize % 4];
            Growing::at(
                (k % n as u64) as NodeId,
                Rng::from_parts(&[round, k]),
                alpha,
            )
        };
        let mut together: Vec<Growing> = (0..count).map(walk).collect();
        grow_par(&mut StepTable::new(&g), &mut together);
        for (k, got) in together.iter().enumerate() {
            let mut alone = walk(k as u64);
            let end = loop {
                let u = *alone.nodes.last().unwrap();
                if alone.nodes.len() >= MAX_WALK_NODES || alone.rng.bernoulli(alone.alpha) {
                    break WalkEnd::Stopped;
                }
                let w = g.weight_sum(u);
                match sample_step(&g, u, w, &mut alone.rng).filter(|_| w > 0.0) {
                    Some(v) => alone.nodes.push(v),
                    None => break WalkEnd::Died,
                }
            };
            assert_eq!(got.nodes, alone.nodes, "round {round}, walk {k}");
            assert_eq!(got.end, end, "round {round}, walk {k}");
            walked += got.nodes.len();
        }
    }
    assert!(walked > 500, "the walks went somewhere ({walked} nodes)");
}
