fn main() {
    let path = std::env::args().nth(1).unwrap();
    let t = std::time::Instant::now();
    let bytes = std::fs::read(&path).unwrap();
    let read = t.elapsed();
    let t = std::time::Instant::now();
    let mut n = 0u64;
    for r in walkdb::tsv::TsvParser::new("x", &bytes) {
        r.unwrap();
        n += 1;
    }
    let parse = t.elapsed();
    let dir = tempfile::tempdir().unwrap();
    let db = walkdb::Database::builder(dir.path())
        .undirected(true)
        .create()
        .unwrap();
    let t = std::time::Instant::now();
    let mut loader = db.bulk_loader().unwrap();
    for r in walkdb::tsv::TsvParser::new("x", &bytes) {
        let r = r.unwrap();
        loader.add_edge(r.src, r.rel, r.dst, r.weight).unwrap();
    }
    let intern = t.elapsed();
    let t = std::time::Instant::now();
    let info = loader.finish().unwrap();
    let finish = t.elapsed();
    println!("read {read:?} parse {parse:?} ({n}) parse+intern {intern:?} finish {finish:?} storage {} index {}", info.storage_seconds, info.index_seconds);
}
