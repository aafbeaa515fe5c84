use super::*;
use crate::graph::Edge;
use proptest::prelude::*;

fn edge(src: NodeId, rel: RelId, dst: NodeId, weight: f64) -> Edge {
    Edge {
        src,
        rel,
        dst,
        weight,
    }
}

/// psi by a dense solve of `(I - (1 - alpha) P^T) x = alpha p` (Gaussian elimination with
/// partial pivoting), the independent reference for the iterative solvers.
fn dense_psi(graph: &CsrGraph, reset: &[(NodeId, f64)], alpha: f64) -> Vec<f64> {
    let n = graph.node_count();
    let mut a = vec![vec![0.0; n + 1]; n];
    for (i, row) in a.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    for u in 0..n as NodeId {
        let w_sum = graph.weight_sum(u);
        for link in graph.links(u) {
            a[link.target as usize][u as usize] -= (1.0 - alpha) * link.weight / w_sum;
        }
    }
    for &(v, w) in reset {
        a[v as usize][n] += alpha * w;
    }
    for col in 0..n {
        let pivot = (col..n)
            .max_by(|&x, &y| a[x][col].abs().total_cmp(&a[y][col].abs()))
            .unwrap();
        a.swap(col, pivot);
        let pivot_row = a[col].clone();
        for (row, values) in a.iter_mut().enumerate() {
            if row != col {
                let f = values[col] / pivot_row[col];
                for (x, p) in values.iter_mut().zip(&pivot_row).skip(col) {
                    *x -= f * p;
                }
            }
        }
    }
    (0..n).map(|i| a[i][n] / a[i][i]).collect()
}

fn normalise(v: &[f64]) -> Vec<f64> {
    let s: f64 = v.iter().sum();
    v.iter().map(|x| x / s).collect()
}

fn small_graph() -> impl Strategy<Value = (usize, Vec<Edge>, bool)> {
    (1usize..8, any::<bool>()).prop_flat_map(|(n, undirected)| {
        let e = (0..n as NodeId, 0..3 as RelId, 0..n as NodeId, 1u32..5)
            .prop_map(|(s, r, d, w)| edge(s, r, d, f64::from(w) * 0.5));
        (Just(n), prop::collection::vec(e, 0..16), Just(undirected))
    })
}

fn seeds_for(n: usize) -> impl Strategy<Value = Vec<(NodeId, f64)>> {
    prop::collection::vec((0..n as NodeId, 0.1f64..1.0), 1..4)
}

fn case() -> impl Strategy<Value = (usize, Vec<Edge>, bool, Vec<(NodeId, f64)>, f64)> {
    small_graph().prop_flat_map(|(n, edges, und)| {
        (Just(n), Just(edges), Just(und), seeds_for(n), 0.05f64..0.95)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn exact_equals_dense_solve_and_is_a_distribution((n, edges, und, seeds, alpha) in case()) {
        let g = CsrGraph::from_edges(n, &edges, und);
        let mut ws = PprWorkspace::new();
        let reset = normalised_seeds(&g, &seeds).unwrap();
        let got = exact_ppr(&g, &reset, alpha, EXACT_TOLERANCE, &mut ws);
        let want = normalise(&dense_psi(&g, &reset, alpha));
        prop_assert!(got.scores.iter().all(|&s| s >= 0.0));
        prop_assert!((got.scores.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        for (x, y) in got.scores.iter().zip(&want) {
            prop_assert!((x - y).abs() < 1e-10, "{:?} vs {:?}", got.scores, want);
        }
        prop_assert!(ws.is_clean());
    }

    #[test]
    fn psi_is_linear_in_the_seeds(
        (n, edges, und, seeds, alpha) in case(),
        a in 0.1f64..3.0,
        b in 0.1f64..3.0,
    ) {
        let g = CsrGraph::from_edges(n, &edges, und);
        let mut ws = PprWorkspace::new();
        let other: Vec<(NodeId, f64)> = seeds.iter().map(|&(v, w)| ((v + 1) % n as NodeId, w)).collect();
        let psi = |reset: &[(NodeId, f64)], ws: &mut PprWorkspace| {
            let r = exact_ppr(&g, reset, alpha, 1e-13, ws);
            r.scores.iter().map(|s| s * r.mass).collect::<Vec<f64>>()
        };
        let p1 = psi(&seeds, &mut ws);
        let p2 = psi(&other, &mut ws);
        let mixed: Vec<(NodeId, f64)> = seeds
            .iter()
            .map(|&(v, w)| (v, a * w))
            .chain(other.iter().map(|&(v, w)| (v, b * w)))
            .collect();
        let p12 = psi(&mixed, &mut ws);
        for i in 0..n {
            prop_assert!((p12[i] - (a * p1[i] + b * p2[i])).abs() < 1e-10);
        }
    }

    #[test]
    fn relation_multiplier_zero_equals_deleting_the_relation(
        (n, edges, und, seeds, alpha) in case(),
        rel in 0..3 as RelId,
    ) {
        let g = CsrGraph::from_edges(n, &edges, und);
        let reweighted = reweight_relations(&g, &HashMap::from([(rel, 0.0)])).unwrap();
        let kept: Vec<Edge> = edges.iter().copied().filter(|e| e.rel != rel).collect();
        let deleted = CsrGraph::from_edges(n, &kept, und);
        let mut ws = PprWorkspace::new();
        let x = exact_ppr(&reweighted, &seeds, alpha, EXACT_TOLERANCE, &mut ws);
        let y = exact_ppr(&deleted, &seeds, alpha, EXACT_TOLERANCE, &mut ws);
        for (a, b) in x.scores.iter().zip(&y.scores) {
            prop_assert!((a - b).abs() < 1e-12);
        }
    }

    #[test]
    fn push_error_is_within_its_bound(
        (n, edges, und, seeds, alpha) in case(),
        r_max in prop::sample::select(vec![0.3, 0.05, 1e-3, 1e-6]),
    ) {
        let g = CsrGraph::from_edges(n, &edges, und);
        let mut ws = PprWorkspace::new();
        let psi = dense_psi(&g, &seeds, alpha);
        let push = forward_push(&g, &seeds, alpha, r_max, &mut ws);
        prop_assert!(ws.is_clean());
        let mut est = vec![0.0; n];
        for &(v, e) in &push.estimate {
            est[v as usize] = e;
        }
        let err: f64 = psi.iter().zip(&est).map(|(p, e)| (p - e).abs()).sum();
        prop_assert!(err <= push.error_bound + 1e-12, "{} > {}", err, push.error_bound);
        let r_sum: f64 = push.residual.iter().map(|r| r.1).sum();
        prop_assert!((r_sum - push.error_bound).abs() < 1e-12);
        // The invariant: psi = est + sum_v r(v) psi_v, checked with dense solves.
        let mut rebuilt = est.clone();
        for &(v, r) in &push.residual {
            for (x, p) in rebuilt.iter_mut().zip(dense_psi(&g, &[(v, 1.0)], alpha)) {
                *x += r * p;
            }
        }
        for (x, p) in rebuilt.iter().zip(&psi) {
            prop_assert!((x - p).abs() < 1e-10);
        }
        // Every residual left is below its threshold.
        for &(v, r) in &push.residual {
            prop_assert!(r <= r_max * g.degree(v).max(1) as f64);
        }
    }

    #[test]
    fn every_method_returns_a_sorted_distribution((n, edges, und, seeds, alpha) in case()) {
        let g = CsrGraph::from_edges(n, &edges, und);
        let mut ws = PprWorkspace::new();
        for method in [Method::Auto, Method::Exact, Method::Push, Method::Walks] {
            let mut q = PprQuery::new(seeds.clone(), alpha).top_k(n).method(method);
            q.walks = Some(2000);
            let r = ppr(&g, &q, &mut ws).unwrap();
            prop_assert!(r.top.iter().all(|&(_, s)| s > 0.0));
            let total: f64 = r.top.iter().map(|p| p.1).sum();
            // Certified answers return interval midpoints, each within the reported error.
            let slack = if r.guarantee.max_error.is_finite() && method != Method::Exact {
                r.top.len() as f64 * r.guarantee.max_error
            } else {
                0.0
            };
            prop_assert!((total - 1.0).abs() < 1e-9 + slack, "{:?} sums to {}", method, total);
            for w in r.top.windows(2) {
                prop_assert!(w[0].1 > w[1].1 || (w[0].1 == w[1].1 && w[0].0 < w[1].0));
            }
            prop_assert!(ws.is_clean());
        }
    }
}

fn notes_graph() -> CsrGraph {
    CsrGraph::from_edges(
        4,
        &[
            edge(0, 0, 1, 1.0),
            edge(1, 0, 2, 2.0),
            edge(0, 0, 2, 1.0),
            edge(3, 0, 0, 1.0),
        ],
        false,
    )
}

#[test]
fn invalid_queries_are_typed_errors() {
    let g = notes_graph();
    let mut ws = PprWorkspace::new();
    let run = |q: PprQuery<'_>, ws: &mut PprWorkspace| ppr(&g, &q, ws);
    assert_eq!(
        run(PprQuery::new(vec![], 0.15), &mut ws),
        Err(QueryError::NoSeeds)
    );
    for w in [f64::NAN, 0.0, -1.0, f64::INFINITY] {
        assert!(matches!(
            run(PprQuery::new(vec![(0, w)], 0.15), &mut ws),
            Err(QueryError::BadSeedWeight { node: 0, .. })
        ));
    }
    assert_eq!(
        run(PprQuery::new(vec![(4, 1.0)], 0.15), &mut ws),
        Err(QueryError::NodeOutOfRange {
            node: 4,
            node_count: 4
        })
    );
    for alpha in [0.0, 1.0, -0.5, 1.5, f64::NAN] {
        assert!(matches!(
            run(PprQuery::new(vec![(0, 1.0)], alpha), &mut ws),
            Err(QueryError::BadAlpha(_))
        ));
    }
    let mut q = PprQuery::new(vec![(0, 1.0)], 0.15).method(Method::Push);
    q.push_r_max = Some(f64::NAN);
    assert!(matches!(run(q, &mut ws), Err(QueryError::BadRMax(_))));
    let mut q = PprQuery::new(vec![(0, 1.0)], 0.15).method(Method::Walks);
    q.walks = Some(0);
    assert_eq!(run(q, &mut ws), Err(QueryError::NoWalks));
    assert!(ws.is_clean());
    assert!(matches!(
        reweight_relations(&g, &HashMap::from([(0, -1.0)])),
        Err(QueryError::BadMultiplier { rel: 0, .. })
    ));
    assert!(ppr_all_top_k(&g, &AllTopK::new(2.0, 3), |_, _, _| {}, |_, _| {}).is_err());
    // Large but finite weights must not overflow into NaN scores.
    let r = run(
        PprQuery::new(vec![(0, f64::MAX), (3, f64::MAX)], 0.15),
        &mut ws,
    )
    .unwrap();
    assert!(r.top.iter().all(|p| p.1.is_finite()));
}

#[test]
fn auto_is_exact_on_small_graphs_and_matches_notes_example() {
    let g = notes_graph();
    let mut ws = PprWorkspace::new();
    let r = ppr(
        &g,
        &PprQuery::new(vec![(0, 1.0), (3, 1.0)], 0.15).top_k(10),
        &mut ws,
    )
    .unwrap();
    assert_eq!(r.method, Method::Exact);
    assert!(r.error_bound <= EXACT_TOLERANCE);
    let want = [(0, 0.3634), (2, 0.285723), (3, 0.196432), (1, 0.154445)];
    assert_eq!(r.top.len(), 4);
    for (&(v, s), &(wv, ws_)) in r.top.iter().zip(&want) {
        assert_eq!(v, wv);
        assert!((s - ws_).abs() < 5e-6, "{s} vs {ws_}");
    }
}

#[test]
fn target_filter_ranks_only_passing_nodes_but_seeds_still_count() {
    let g = notes_graph();
    let mut ws = PprWorkspace::new();
    let odd = |v: NodeId| v % 2 == 1;
    for method in [Method::Exact, Method::Push, Method::Walks] {
        let q = PprQuery::new(vec![(0, 1.0)], 0.15)
            .method(method)
            .target_filter(&odd);
        let r = ppr(&g, &q, &mut ws).unwrap();
        // Node 1 is reached only through seed 0, which the filter excludes from the ranking.
        assert_eq!(r.top.len(), 1, "{method:?}");
        assert_eq!(r.top[0].0, 1);
        assert!(
            (r.top[0].1 - 0.192199).abs() < 0.01,
            "{method:?} {:?}",
            r.top
        );
    }
}

#[test]
fn ties_are_broken_by_node_id_and_top_k_truncates() {
    // A star: 0 -> 1, 2, 3 with equal weights; 1, 2, 3 tie.
    let g = CsrGraph::from_edges(
        4,
        &[edge(0, 0, 3, 1.0), edge(0, 0, 1, 1.0), edge(0, 0, 2, 1.0)],
        false,
    );
    let mut ws = PprWorkspace::new();
    let r = ppr(
        &g,
        &PprQuery::new(vec![(0, 1.0)], 0.15)
            .top_k(3)
            .method(Method::Exact),
        &mut ws,
    )
    .unwrap();
    // The seed first, then the three-way tie cut at k = 3 by node id (node 3 is left out).
    let nodes: Vec<NodeId> = r.top.iter().map(|p| p.0).collect();
    assert_eq!(nodes, vec![0, 1, 2]);
    assert_eq!(r.top[1].1, r.top[2].1);
    let r = ppr(&g, &PprQuery::new(vec![(0, 1.0)], 0.15).top_k(0), &mut ws).unwrap();
    assert!(r.top.is_empty());
}

#[test]
fn batch_results_come_back_in_input_order() {
    let edges: Vec<Edge> = (0..200u32)
        .map(|i| edge(i, i % 3, (i * 7 + 1) % 200, 1.0 + f64::from(i % 5)))
        .collect();
    let g = CsrGraph::from_edges(200, &edges, true);
    // Certified-push queries at two alphas, multi-seed, with other k and targets: these share
    // sweeps in blocks (a 200-node graph takes 8 lanes); among them queries that run alone (a
    // target filter, an explicit threshold, exact, invalid ones).
    let odd = |v: NodeId| v % 2 == 1;
    let mut queries: Vec<PprQuery<'_>> = (0..64u32)
        .map(|i| {
            let seeds = (0..1 + i % 3)
                .map(|j| ((i * 3 + j * 17) % 200, 1.0 + f64::from(j)))
                .collect();
            let mut q = PprQuery::new(seeds, [0.2, 0.5][i as usize % 2])
                .method(Method::Push)
                .top_k([10, 3][i as usize % 2]);
            if i % 5 == 0 {
                q.accuracy = Accuracy::with_max_error(1e-3);
            }
            q
        })
        .collect();
    let shared = queries.len();
    queries.push(PprQuery::new(vec![], 0.2));
    queries.push(PprQuery::new(vec![(5, -1.0)], 0.2).method(Method::Push));
    queries.push(
        PprQuery::new(vec![(7, 1.0)], 0.2)
            .method(Method::Push)
            .target_filter(&odd),
    );
    let mut explicit = PprQuery::new(vec![(9, 1.0)], 0.2).method(Method::Push);
    explicit.push_r_max = Some(1e-4);
    queries.push(explicit);
    queries.push(PprQuery::new(vec![(11, 1.0)], 0.2).method(Method::Exact));
    let batch = ppr_batch(&g, &queries);
    let mut ws = PprWorkspace::new();
    assert_eq!(batch.len(), queries.len());
    for (i, (q, got)) in queries.iter().zip(&batch).enumerate() {
        let want = ppr(&g, q, &mut ws);
        match (got, want) {
            // Shared sweeps: the same method and target, met against the exact scores.
            (Ok(a), Ok(b)) if i < shared => {
                assert_eq!(a.method, b.method);
                assert_eq!(a.alpha, b.alpha);
                assert!(a.guarantee.meets(&q.accuracy), "{:?}", a.guarantee);
                let exact = exact_ppr(&g, &q.seeds, q.alpha, EXACT_TOLERANCE, &mut ws).scores;
                assert_eq!(a.top.len(), b.top.len());
                let kth = {
                    let mut s = exact.clone();
                    s.sort_unstable_by(|x, y| y.total_cmp(x));
                    s[a.top.len() - 1]
                };
                for &(v, score) in &a.top {
                    let e = exact[v as usize];
                    assert!((score - e).abs() <= a.guarantee.max_error + 1e-9);
                    assert!(
                        e >= kth - DEFAULT_TIE_TOLERANCE - 1e-9,
                        "query {i}: {v} is not in the top"
                    );
                }
            }
            (Ok(a), Ok(b)) => {
                assert_eq!(a.method, b.method);
                assert_eq!(a.top, b.top);
                assert_eq!(a.error_bound, b.error_bound);
                assert_eq!(a.guarantee, b.guarantee);
                assert_eq!(a.work, b.work);
            }
            (Err(a), Err(b)) => assert_eq!(a, &b),
            (a, b) => panic!("{a:?} vs {b:?}"),
        }
    }
}

#[test]
fn all_top_k_streams_every_node_in_order() {
    let n = 5000u32; // more than one chunk
    let edges: Vec<Edge> = (0..n).map(|i| edge(i, 0, (i * 31 + 7) % n, 1.0)).collect();
    let g = CsrGraph::from_edges(n as usize, &edges, true);
    let mut seen = Vec::new();
    let mut progress = Vec::new();
    ppr_all_top_k(
        &g,
        &AllTopK::new(0.3, 5),
        |v, top, guarantee| {
            assert!(guarantee.meets(&Accuracy::default()));
            assert!(top.len() <= 5 && !top.is_empty());
            assert_eq!(top[0].0, v, "a node ranks first in its own PPR here");
            seen.push(v);
        },
        |done, total| progress.push((done, total)),
    )
    .unwrap();
    assert_eq!(seen, (0..n).collect::<Vec<_>>());
    assert_eq!(progress.last(), Some(&(n as usize, n as usize)));
    assert!(progress.len() >= 2);
}

/// Monte Carlo against the exact psi, per node, with a tolerance of 5 standard errors of the
/// visit estimator (estimated from the per-walk visit counts). The seed is fixed, so the test
/// is deterministic; 5 standard errors over a handful of nodes is a bound a correct estimator
/// exceeds with probability below 1e-5, while a biased walk (wrong transition, wrong dangling
/// rule, wrong stop probability) shifts estimates by far more at 200k walks.
#[test]
fn monte_carlo_agrees_with_exact_within_five_standard_errors() {
    // Directed, with a dangling node (2), a self-loop (1) and parallel edges (0 -> 1 twice).
    let g = CsrGraph::from_edges(
        5,
        &[
            edge(0, 0, 1, 1.0),
            edge(0, 1, 1, 2.0),
            edge(1, 0, 2, 2.0),
            edge(1, 0, 1, 1.0),
            edge(0, 0, 3, 1.5),
            edge(3, 0, 0, 1.0),
            edge(3, 0, 4, 0.5),
            edge(4, 0, 3, 1.0),
        ],
        false,
    );
    let reset = [(0, 0.7), (4, 0.3)];
    let alpha = 0.2;
    let psi = dense_psi(&g, &reset, alpha);
    let mut ws = PprWorkspace::new();
    let mut rng = crate::rng::Rng::new(20240601);
    let mc = monte_carlo(&g, &reset, alpha, 200_000, &mut rng, &mut ws);
    assert!(ws.is_clean());
    assert_eq!(mc.estimates.len(), 5);
    for e in &mc.estimates {
        let exact = psi[e.node as usize];
        assert!(e.std_error > 0.0);
        assert!(
            (e.psi - exact).abs() <= 5.0 * e.std_error,
            "node {}: {} vs exact {} (se {})",
            e.node,
            e.psi,
            exact,
            e.std_error
        );
        // The tolerance is tight enough to mean something: well under 2% of the value.
        assert!(5.0 * e.std_error < 0.02 * exact);
    }
    let exact_mass: f64 = psi.iter().sum();
    assert!((mc.mass - exact_mass).abs() < 0.01 * exact_mass);
}

/// `Method::Index` is unbiased: averaged over many independently built indexes, its scores
/// match the exact ones within 5 standard errors of the mean (the standard error measured from
/// the spread over the indexes), both at the index's alpha and at a larger query alpha served
/// by truncation. The push threshold is coarse so the walks carry most of the mass. The graph
/// is undirected (walks never die, so the normalisation is exact and the estimator unbiased).
#[test]
fn index_method_is_unbiased_at_the_index_alpha_and_by_truncation() {
    use crate::walks::{WalkIndex, WalkIndexParams};
    let edges = [
        edge(0, 0, 1, 1.0),
        edge(1, 0, 2, 2.0),
        edge(2, 0, 0, 1.0),
        edge(2, 1, 3, 0.5),
        edge(3, 0, 4, 1.5),
        edge(4, 0, 5, 1.0),
        edge(5, 0, 3, 1.0),
        edge(1, 1, 4, 1.0),
    ];
    let g = CsrGraph::from_edges(6, &edges, true);
    assert!(g.walks_never_die());
    let index_alpha = 0.2;
    let seeds = vec![(0, 1.0), (4, 0.5)];
    let mut ws = PprWorkspace::new();
    for alpha in [0.2, 0.45] {
        let exact = normalise(&dense_psi(
            &g,
            &normalised_seeds(&g, &seeds).unwrap(),
            alpha,
        ));
        let trials = 400;
        let mut sum = [0.0f64; 6];
        let mut sum_sq = [0.0f64; 6];
        for seed in 0..trials {
            let params = WalkIndexParams {
                alpha: index_alpha,
                walks_per_node: 3.0,
                seed,
            };
            let index = WalkIndex::build(&g, params).unwrap();
            let mut q = PprQuery::new(seeds.clone(), alpha)
                .top_k(6)
                .method(Method::Index)
                .walk_index(&index);
            q.push_r_max = Some(0.2);
            q.walks_per_residual = Some(50.0);
            q.rng_seed = seed;
            let r = ppr(&g, &q, &mut ws).unwrap();
            assert_eq!(r.method, Method::Index);
            let mut got = [0.0; 6];
            for (v, s) in r.top {
                got[v as usize] = s;
            }
            for v in 0..6 {
                sum[v] += got[v];
                sum_sq[v] += got[v] * got[v];
            }
        }
        assert!(ws.is_clean());
        let n = trials as f64;
        let mut spread = 0.0f64;
        for v in 0..6 {
            let mean = sum[v] / n;
            let var = (sum_sq[v] / n - mean * mean).max(0.0) * n / (n - 1.0);
            let se = (var / n).sqrt();
            spread = spread.max(var.sqrt());
            assert!(
                (mean - exact[v]).abs() <= 5.0 * se + 1e-12,
                "alpha {alpha} node {v}: mean {mean} vs exact {} (se {se})",
                exact[v]
            );
        }
        // The walks did the work: a single index's scores vary.
        assert!(
            spread > 1e-4,
            "alpha {alpha}: no walk noise, spread {spread}"
        );
    }
}

/// `Method::Index` without an index, or with a query alpha below the index's, runs what `Auto`
/// would run without one and says so; `Auto` picks the index when it can serve.
#[test]
fn index_method_falls_back_and_reports_it() {
    use crate::walks::{WalkIndex, WalkIndexParams};
    let edges: Vec<Edge> = (0..30).map(|i| edge(i, 0, (i * 7 + 3) % 30, 1.0)).collect();
    let g = CsrGraph::from_edges(30, &edges, true);
    let index = WalkIndex::build(
        &g,
        WalkIndexParams {
            alpha: 0.3,
            ..WalkIndexParams::default()
        },
    )
    .unwrap();
    let mut ws = PprWorkspace::new();
    let run = |method: Method, alpha: f64, with_index: bool, ws: &mut PprWorkspace| {
        let mut q = PprQuery::new(vec![(0, 1.0)], alpha).method(method);
        if with_index {
            q = q.walk_index(&index);
        }
        ppr(&g, &q, ws).unwrap().method
    };
    assert_eq!(run(Method::Index, 0.3, true, &mut ws), Method::Index);
    assert_eq!(run(Method::Index, 0.5, true, &mut ws), Method::Index);
    // Small graph: without a usable index, Index falls back to Auto's choice, exact.
    assert_eq!(run(Method::Index, 0.2, true, &mut ws), Method::Exact);
    assert_eq!(run(Method::Index, 0.3, false, &mut ws), Method::Exact);
    // Auto solves small graphs exactly even with an index.
    assert_eq!(run(Method::Auto, 0.3, true, &mut ws), Method::Exact);
    assert!(ws.is_clean());
}

/// A run started at `first_source` (as a resumed one is) streams exactly the answers a full
/// run gives from there on, and reports progress counted from node 0.
#[test]
fn all_top_k_from_a_first_source_equals_the_tail_of_a_full_run() {
    let n = 700u32;
    let edges: Vec<Edge> = (0..n)
        .flat_map(|i| {
            [
                edge(i, 0, (i * 31 + 7) % n, 1.0),
                edge(i, 1, (i * i + 3) % n, 2.0),
            ]
        })
        .collect();
    let g = CsrGraph::from_edges(n as usize, &edges, false);
    let mut job = AllTopK::new(0.2, 4);
    job.chunk = 64;
    let mut full = Vec::new();
    ppr_all_top_k(&g, &job, |v, top, _| full.push((v, top)), |_, _| {}).unwrap();
    job.first_source = 320;
    let mut tail = Vec::new();
    let mut progress = Vec::new();
    ppr_all_top_k(
        &g,
        &job,
        |v, top, _| tail.push((v, top)),
        |d, t| progress.push((d, t)),
    )
    .unwrap();
    assert_eq!(tail, full[320..].to_vec());
    assert_eq!(progress.first(), Some(&(384, n as usize)));
    assert_eq!(progress.last(), Some(&(n as usize, n as usize)));
}

/// A graph with leaves: a core of `core` nodes (two pseudo-random links each), leaves hung on
/// it (most on node 0, a hub; some by two parallel links of different weights), a component
/// of two nodes, and a node whose links are a self-loop and one neighbour (not a leaf).
fn leafy_graph(core: u32, leaves: u32) -> CsrGraph {
    let mut edges: Vec<Edge> = (0..core)
        .flat_map(|i| {
            [
                edge(i, 0, (i * 31 + 7) % core, 1.0),
                edge(i, 1, (i * i + 3) % core, 2.0),
            ]
        })
        .collect();
    for j in 0..leaves {
        let leaf = core + j;
        let parent = if j % 3 == 0 { (j * 7) % core } else { 0 };
        edges.push(edge(leaf, 0, parent, 1.0 + f64::from(j % 4)));
        if j % 5 == 0 {
            edges.push(edge(parent, 1, leaf, 0.5));
        }
    }
    let n = core + leaves;
    edges.push(edge(n, 0, n + 1, 1.0));
    edges.push(edge(n + 2, 0, n + 2, 1.0));
    edges.push(edge(n + 2, 0, 1, 1.0));
    // Twins: three nodes with the same three links, one with the same targets but another
    // weight (no twin), and two with a parallel pair.
    for t in n + 3..n + 7 {
        let w = if t == n + 6 { 2.0 } else { 1.0 };
        for target in [1, 2, 5] {
            edges.push(edge(t, 0, target, w));
        }
    }
    for t in [n + 7, n + 8] {
        edges.push(edge(t, 0, 3, 1.0));
        edges.push(edge(t, 1, 3, 0.5));
        edges.push(edge(t, 0, 4, 1.0));
    }
    CsrGraph::from_edges((n + 9) as usize, &edges, true)
}

/// Whether `top` with its guarantee holds against the exact scores `exact`: every score
/// within the bound, and the set the exact top (up to the tie tolerance).
fn holds(top: &[(NodeId, f64)], guarantee: &Guarantee, exact: &[f64], k: usize) -> bool {
    let slack = 1e-9;
    let scores_ok = top
        .iter()
        .all(|&(v, s)| (s - exact[v as usize]).abs() <= guarantee.max_error + slack);
    let returned: Vec<bool> = (0..exact.len())
        .map(|v| top.iter().any(|&(t, _)| t as usize == v))
        .collect();
    let lowest_in = top
        .iter()
        .map(|&(v, _)| exact[v as usize])
        .fold(f64::INFINITY, f64::min);
    let highest_out = (0..exact.len())
        .filter(|&v| !returned[v])
        .map(|v| exact[v])
        .fold(0.0, f64::max);
    let tie = match guarantee.top_k {
        TopKGuarantee::Exact => 0.0,
        TopKGuarantee::UpToTies(t) => t,
        TopKGuarantee::None => f64::INFINITY,
    };
    scores_ok
        && top.len() == k.min(exact.iter().filter(|&&x| x > 0.0).count())
        && lowest_in + tie + slack >= highest_out
}

/// The certified top-`k` of the single source `v`, with no node filtered.
fn certify_single(
    g: &CsrGraph,
    v: NodeId,
    alpha: f64,
    k: usize,
    accuracy: &Accuracy,
    ws: &mut PprWorkspace,
) -> certified::Certified {
    certified::certified_top_k(g, &[(v, 1.0)], alpha, k, &|_| true, accuracy, ws)
}

/// A leaf's answer derived from its neighbour's certified answer holds against the exact
/// PPR of the leaf, at several restart probabilities and list lengths, on leaves of a hub
/// and of ordinary nodes, with parallel links; and most derivations prove the target.
#[test]
fn a_leaf_answer_follows_from_its_neighbours() {
    let (core, leaves) = (60u32, 90u32);
    let g = leafy_graph(core, leaves);
    let mut ws = PprWorkspace::new();
    let (mut derived, mut tried) = (0, 0);
    // The default target, and a coarse one that leaves most sets uncertified: a derived
    // answer must not claim a set its intervals do not prove.
    let coarse = Accuracy {
        max_error: 1e-2,
        certify_top_k: false,
        ..Accuracy::default()
    };
    for (alpha, accuracy) in [0.15, 0.5, 0.85]
        .into_iter()
        .flat_map(|a| [(a, Accuracy::default()), (a, coarse)])
    {
        for k in [1, 3, 10] {
            for j in 0..leaves {
                let s = core + j;
                let v = g.links(s).next().unwrap().target;
                let parent = certify_single(&g, v, alpha, k, &accuracy, &mut ws);
                let share = g.weight_sum(s) / g.weight_sum(v);
                tried += 1;
                let Some(answer) =
                    certified::derive_leaf(&parent, s, v, share, alpha, k, &accuracy)
                else {
                    continue;
                };
                derived += 1;
                assert!(answer.guarantee.meets(&accuracy), "{:?}", answer.guarantee);
                let exact = dense_psi(&g, &[(s, 1.0)], alpha);
                assert!(
                    holds(&answer.top, &answer.guarantee, &exact, k),
                    "leaf {s} of {v}, alpha {alpha}, k {k}: {:?} vs exact {:?}",
                    answer.top,
                    (exact[s as usize], exact[v as usize])
                );
            }
        }
    }
    assert!(derived * 10 >= tried * 9, "{derived} of {tried} derived");
}

/// `ppr_all_top_k` on a symmetric graph with leaves (answered from their neighbours, in
/// chunks that split leaves from their neighbours) meets the target at every source.
#[test]
fn all_top_k_with_leaves_meets_the_target_at_every_source() {
    let g = leafy_graph(40, 70);
    for alpha in [0.2, 0.6] {
        let mut job = AllTopK::new(alpha, 4);
        job.chunk = 16;
        let mut answered = Vec::new();
        ppr_all_top_k(
            &g,
            &job,
            |s, top, guarantee| {
                assert!(guarantee.meets(&Accuracy::default()));
                let exact = dense_psi(&g, &[(s, 1.0)], alpha);
                assert!(holds(&top, &guarantee, &exact, 4), "source {s}: {top:?}");
                answered.push(s);
            },
            |_, _| {},
        )
        .unwrap();
        assert_eq!(answered, (0..g.node_count() as NodeId).collect::<Vec<_>>());
    }
}

/// Twins (the same links) are found, and not nodes whose links differ only in weight; a
/// twin's answer, its twin's relabelled, holds against the dense solve and proves the target.
#[test]
fn a_twin_answer_is_its_twins_relabelled() {
    let g = leafy_graph(60, 90);
    let n = 150;
    let twins = twin_representatives(&g);
    assert_eq!(twins[n + 4], n as NodeId + 3);
    assert_eq!(twins[n + 5], n as NodeId + 3);
    assert_eq!(twins[n + 6], NO_PARENT, "another weight: not a twin");
    assert_eq!(twins[n + 8], n as NodeId + 7, "parallel links");
    assert_eq!(twins[n + 2], NO_PARENT, "a self-loop: not a twin");
    let pairs: Vec<(NodeId, NodeId)> = (0..g.node_count() as NodeId)
        .filter(|&t| twins[t as usize] != NO_PARENT)
        .map(|t| (twins[t as usize], t))
        .collect();
    assert!(pairs.len() > 20, "{} twins", pairs.len());
    let mut ws = PprWorkspace::new();
    let accuracy = Accuracy::default();
    let (mut relabelled, mut tried) = (0, 0);
    for alpha in [0.15, 0.5] {
        for k in [2, 10] {
            for &(s, t) in &pairs {
                let from = certify_single(&g, s, alpha, k, &accuracy, &mut ws);
                tried += 1;
                let Some(answer) = certified::relabel_twin(&from, s, t, k, &accuracy) else {
                    continue;
                };
                relabelled += 1;
                assert!(answer.guarantee.meets(&accuracy));
                let exact = dense_psi(&g, &[(t, 1.0)], alpha);
                assert!(
                    holds(&answer.top, &answer.guarantee, &exact, k),
                    "twin {t} of {s}, alpha {alpha}, k {k}: {:?}",
                    answer.top
                );
            }
        }
    }
    // A twin's answer loses only what its twin's basis dropped (see `Basis::new`).
    assert!(
        relabelled * 20 >= tried * 19,
        "{relabelled} of {tried} relabelled"
    );
}

/// Every source's answer is the same whatever chunk it falls in and wherever a run starts:
/// derived answers depend only on the answers they derive from (leaves, twins, and helpers
/// answered outside a chunk).
#[test]
fn all_top_k_answers_do_not_depend_on_the_chunks() {
    let g = leafy_graph(40, 70);
    let run = |chunk: usize, first: usize| {
        let mut job = AllTopK::new(0.3, 4);
        job.chunk = chunk;
        job.first_source = first;
        let mut answers = Vec::new();
        ppr_all_top_k(&g, &job, |s, top, gd| answers.push((s, top, gd)), |_, _| {}).unwrap();
        answers
    };
    let whole = run(4096, 0);
    assert_eq!(whole.len(), g.node_count());
    for chunk in [1, 7] {
        assert_eq!(run(chunk, 0), whole, "chunks of {chunk}");
    }
    assert_eq!(run(5, 61), whole[61..].to_vec(), "resumed at 61");
}

/// A hub whose top-k boundary falls among many exactly tied leaves (more than a basis keeps
/// by their own intervals): its leaves' answers still derive from its answer, the dropped
/// leaves standing as one candidate known to within the tie tolerance.
#[test]
fn a_hubs_tied_leaves_derive_through_the_dropped_candidates() {
    let leaves = 100u32;
    let mut edges: Vec<Edge> = (1..=leaves).map(|j| edge(0, 0, j, 1.0)).collect();
    // A few nodes of another kind beside the hub, so the leaves are not alone.
    let n = leaves + 1;
    for i in 0..4 {
        edges.push(edge(0, 1, n + i, 2.0));
        edges.push(edge(n + i, 1, n + (i + 1) % 4, 1.0));
    }
    let g = CsrGraph::from_edges((n + 4) as usize, &edges, true);
    let accuracy = Accuracy::default();
    let mut ws = PprWorkspace::new();
    for alpha in [0.15, 0.5] {
        let k = 10;
        let hub = certify_single(&g, 0, alpha, k, &accuracy, &mut ws);
        assert!(hub.guarantee.meets(&accuracy));
        for s in [1, 50, leaves] {
            let share = g.weight_sum(s) / g.weight_sum(0);
            let answer = certified::derive_leaf(&hub, s, 0, share, alpha, k, &accuracy)
                .unwrap_or_else(|| panic!("leaf {s} at alpha {alpha} derives"));
            let exact = dense_psi(&g, &[(s, 1.0)], alpha);
            assert!(
                holds(&answer.top, &answer.guarantee, &exact, k),
                "leaf {s}: {:?}",
                answer.top
            );
        }
    }
}

/// The walk index's answers keep the guarantee they report as often as they say. Over many
/// independently built indexes and random sources, (a) the fraction of top-10 answers with a
/// score outside its reported bound (or a set that is not what it claims) and (b) the fraction
/// of answers in which any node's exact score lies outside the interval it was judged by
/// (every node listed: `k = n`) stay within the reported failure probability, here a large
/// 0.3 so that intervals too narrow show in (b): without the union bound over the nodes,
/// about half the answers have a node outside. Walks are drawn as soon as they fit (walk cost
/// 0, even where the push's own bounds would prove the scores), so nearly every answer reads
/// some. Three graphs: an undirected power-law graph at the
/// index's alpha; a directed graph with dangling sinks served at a larger alpha than the
/// index's (truncation, walks that die); and a tiny graph, where few walks are drawn.
#[test]
fn index_guarantee_holds_within_its_failure_probability() {
    use crate::walks::{Truncation, WalkIndex, WalkIndexParams};
    let directed: Vec<Edge> = {
        let mut rng = crate::rng::Rng::new(23);
        // 300 nodes; nodes 250.. have no out-links (sinks), the others 1-6 weighted links.
        let mut edges = Vec::new();
        for u in 0..250u32 {
            for _ in 0..1 + rng.below(6) {
                let v = rng.below(300) as NodeId;
                edges.push(edge(u, 0, v, 0.5 + rng.next_f64()));
            }
        }
        edges
    };
    let tiny: Vec<Edge> = (0..10u32)
        .flat_map(|u| {
            [
                edge(u, 0, (u + 1) % 10, 1.0),
                edge(u, 0, (u * 3 + 1) % 10, 2.0),
            ]
        })
        .collect();
    let cases: [(&str, CsrGraph, f64, f64, f64); 3] = [
        (
            "power-law",
            crate::synth::barabasi_albert(400, 4, 5).csr(true),
            0.25,
            0.25,
            2e-3,
        ),
        (
            "directed with sinks",
            CsrGraph::from_edges(300, &directed, false),
            0.2,
            0.35,
            3e-3,
        ),
        (
            "tiny",
            CsrGraph::from_edges(10, &tiny, true),
            0.3,
            0.3,
            1e-2,
        ),
    ];
    let probability = 0.3;
    let mut ws = PprWorkspace::new();
    let mut rng = crate::rng::Rng::new(17);
    for (name, g, index_alpha, alpha, eps) in cases {
        let n = g.node_count();
        let accuracy = Accuracy::with_max_error(eps)
            .certify_top_k(false)
            .failure_probability(probability);
        let truncation = Truncation::new(index_alpha, alpha).unwrap();
        let trials = 300u64;
        let (mut broken_answers, mut broken_intervals, mut sampled) = (0u64, 0u64, 0u64);
        let mut reported_probability: f64 = 0.0;
        for seed in 0..trials {
            let params = WalkIndexParams {
                alpha: index_alpha,
                walks_per_node: 1.0,
                seed,
            };
            let index = WalkIndex::build(&g, params).unwrap();
            let source = loop {
                let v = rng.below(n as u64) as NodeId;
                if g.degree(v) > 0 {
                    break v;
                }
            };
            let exact = normalise(&dense_psi(&g, &[(source, 1.0)], alpha));
            let mut answer = |k: usize| {
                let query = sampled::IndexQuery {
                    graph: &g,
                    alpha,
                    k,
                    passes: &|_| true,
                    accuracy: &accuracy,
                    index: &index,
                    truncation,
                    rng_seed: seed,
                    plan: sampled::Plan {
                        walk_cost: 0.0,
                        push_may_prove: false,
                    },
                };
                let a = sampled::index_top_k(&query, &[(source, 1.0)], &mut ws).unwrap();
                assert!(ws.is_clean());
                a
            };
            let top = answer(10);
            let reported = top.guarantee;
            assert!(reported.max_error <= eps, "{name}: {reported:?}");
            assert!(
                reported.failure_probability <= probability,
                "{name}: {reported:?}"
            );
            reported_probability = reported_probability.max(reported.failure_probability);
            sampled += u64::from(reported.failure_probability > 0.0);
            if !holds(&top.top, &reported, &exact, 10) {
                broken_answers += 1;
            }
            let all = answer(n);
            let (intervals, others) = all.basis.intervals();
            let mut listed = vec![false; n];
            let slack = 1e-12;
            let mut outside = false;
            for (v, lo, hi) in intervals {
                listed[v as usize] = true;
                let x = exact[v as usize];
                outside |= x < lo - slack || x > hi + slack;
            }
            outside |= (0..n).any(|v| !listed[v] && exact[v] > others + slack);
            broken_intervals += u64::from(outside);
        }
        assert!(
            sampled >= trials * 9 / 10,
            "{name}: only {sampled} of {trials} answers read walks"
        );
        let sigma = (reported_probability * (1.0 - reported_probability) / trials as f64).sqrt();
        for (what, count) in [("answers", broken_answers), ("intervals", broken_intervals)] {
            let rate = count as f64 / trials as f64;
            assert!(
                rate <= reported_probability + 3.0 * sigma,
                "{name}: {count} of {trials} {what} broke their guarantee"
            );
        }
    }
}
