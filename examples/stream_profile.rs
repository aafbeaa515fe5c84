fn main() {
    let path = std::env::args().nth(1).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = walkdb::Database::builder(dir.path()).undirected(true).alpha(0.15).walks_per_node(1.0).durability(walkdb::Durability::None).create().unwrap();
    let mut loader = db.bulk_loader().unwrap();
    for r in walkdb::tsv::TsvParser::new("x", &bytes) { let r = r.unwrap(); loader.add_edge(r.src, r.rel, r.dst, r.weight).unwrap(); }
    loader.finish().unwrap();
    let mut times = Vec::new();
    for b in 0..150u64 {
        let t = std::time::Instant::now();
        let mut txn = db.begin_write().unwrap();
        for i in 0..1000u64 {
            let k = b * 1000 + i;
            txn.add_edge(&format!("new:{}", k % 50_000), "hypernym", &format!("new:{}", (k * 7919 + 13) % 60_000), 1.0).unwrap();
        }
        txn.commit().unwrap();
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    println!("first {:.1} ms; then {:?}", times[0], times.iter().skip(1).step_by(6).map(|t| format!("{t:.1}")).collect::<Vec<_>>());
}
