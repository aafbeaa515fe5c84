//! HippoRAG-style retrieval on 53 HotpotQA questions (data/hotpotqa, CC BY-SA 4.0).
//!
//! Graph: every paragraph of the corpus (521) is a passage node `p:<title>`; every paragraph
//! title names an entity node `e:<name>` (the title without a trailing "(...)"). A passage
//! links to each entity whose name it mentions (relation `mentions`) and to the entity it is
//! about (relation `about`). The graph is undirected, alpha 0.5, as HippoRAG's PPR.
//!
//! Query: the entities the question names seed the PPR (equal weights); only passage nodes are
//! ranked (`node_prefix = "p:"`). HippoRAG 2 also seeds every passage with a small weight from
//! a dense retriever; without embeddings here, the "hybrid" row seeds passages with the
//! keyword scores instead. Baseline: keyword overlap (IDF-weighted) between question and
//! passage. Recall@k: the share of a question's supporting paragraphs in the top k, over the
//! whole corpus. The numbers are printed as they come out.
//!
//! Run: `cargo run --release --example hipporag`

use std::collections::{HashMap, HashSet};

use serde_json::Value;
use walkdb::ppr::PprWorkspace;
use walkdb::{Database, PprRequest};

type Error = Box<dyn std::error::Error>;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/hotpotqa");

/// The entity a title names: "Ed Wood (film)" -> "Ed Wood".
fn entity_name(title: &str) -> &str {
    match title.find(" (") {
        Some(i) if title.ends_with(')') => &title[..i],
        _ => title,
    }
}

fn tokens(text: &str) -> Vec<String> {
    const STOP: &[&str] = &[
        "the", "a", "an", "of", "in", "on", "and", "or", "is", "was", "were", "are", "which",
        "who", "what", "that", "to", "for", "by", "with", "as", "at", "from", "did", "does", "be",
        "this", "it", "its", "his", "her", "he", "she", "they", "same", "both", "than", "how",
        "when", "where", "has", "have", "had",
    ];
    text.split(|c: char| !c.is_alphanumeric())
        .map(str::to_lowercase)
        .filter(|t| !t.is_empty() && !STOP.contains(&t.as_str()))
        .collect()
}

/// True when `name` occurs in `text` as whole words.
fn mentions(text: &str, name: &str) -> bool {
    let mut from = 0;
    while let Some(i) = text[from..].find(name) {
        let start = from + i;
        let end = start + name.len();
        let before = text[..start].chars().next_back();
        let after = text[end..].chars().next();
        if !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric) {
            return true;
        }
        from = end;
    }
    false
}

struct Keyword {
    idf: HashMap<String, f64>,
    docs: Vec<HashSet<String>>,
}

impl Keyword {
    fn new(passages: &[(String, String)]) -> Keyword {
        let docs: Vec<HashSet<String>> = passages
            .iter()
            .map(|(t, x)| tokens(&format!("{t} {x}")).into_iter().collect())
            .collect();
        let mut df: HashMap<String, usize> = HashMap::new();
        for d in &docs {
            for t in d {
                *df.entry(t.clone()).or_default() += 1;
            }
        }
        let n = docs.len() as f64;
        let idf = df
            .into_iter()
            .map(|(t, c)| (t, (n / c as f64).ln()))
            .collect();
        Keyword { idf, docs }
    }

    /// (passage index, score) for every passage with a positive score, best first.
    fn rank(&self, question: &str) -> Vec<(usize, f64)> {
        let q: HashSet<String> = tokens(question).into_iter().collect();
        let mut scored: Vec<(usize, f64)> = self
            .docs
            .iter()
            .enumerate()
            .map(|(i, d)| {
                (
                    i,
                    q.iter()
                        .filter(|t| d.contains(*t))
                        .map(|t| self.idf[t])
                        .sum(),
                )
            })
            .filter(|(_, s)| *s > 0.0)
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        scored
    }
}

fn recall(ranked: &[String], gold: &HashSet<String>, k: usize) -> f64 {
    let hit = ranked.iter().take(k).filter(|t| gold.contains(*t)).count();
    hit as f64 / gold.len() as f64
}

fn main() -> Result<(), Error> {
    let questions: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(format!(
        "{DATA}/hotpotqa_dev53.json"
    ))?)?;
    let corpus: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(format!(
        "{DATA}/hotpotqa_dev53_corpus.json"
    ))?)?;
    let passages: Vec<(String, String)> = corpus
        .iter()
        .filter_map(|p| {
            Some((
                p["title"].as_str()?.to_string(),
                p["text"].as_str()?.to_string(),
            ))
        })
        .collect();
    let entities: HashSet<&str> = passages
        .iter()
        .map(|(t, _)| entity_name(t))
        .filter(|n| n.chars().count() >= 3)
        .collect();

    // The graph.
    let dir = tempfile::tempdir()?;
    let db = Database::builder(dir.path().join("hotpot"))
        .undirected(true)
        .alpha(0.5)
        .create()?;
    let mut loader = db.bulk_loader()?;
    let mut mention_edges = 0usize;
    for (title, text) in &passages {
        let node = format!("p:{title}");
        loader.add_edge(&node, "about", &format!("e:{}", entity_name(title)), 1.0)?;
        for name in &entities {
            if *name != entity_name(title) && mentions(text, name) {
                loader.add_edge(&node, "mentions", &format!("e:{name}"), 1.0)?;
                mention_edges += 1;
            }
        }
    }
    let info = loader.finish()?;
    println!(
        "graph: {} nodes, {} edges ({} passages, {} entities, {mention_edges} mentions)",
        info.nodes,
        info.edges,
        passages.len(),
        entities.len()
    );

    let keyword = Keyword::new(&passages);
    let snapshot = db.begin_read()?;
    let mut workspace = PprWorkspace::new();
    let mut sums = [[0.0f64; 2]; 3];
    let mut seeded = 0usize;
    for q in &questions {
        let question = q["question"].as_str().unwrap_or_default();
        let gold: HashSet<String> = q["supporting_titles"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        if gold.is_empty() {
            continue;
        }
        let by_keyword: Vec<(usize, f64)> = keyword.rank(question);
        let keyword_titles: Vec<String> = by_keyword
            .iter()
            .map(|(i, _)| passages[*i].0.clone())
            .collect();

        let mut seeds: Vec<(String, f64)> = entities
            .iter()
            .filter(|n| mentions(question, n))
            .map(|n| (format!("e:{n}"), 1.0))
            .collect();
        seeds.sort_by(|a, b| a.0.cmp(&b.0));
        if !seeds.is_empty() {
            seeded += 1;
        }
        let rank_ppr =
            |seeds: Vec<(String, f64)>, ws: &mut PprWorkspace| -> Result<Vec<String>, Error> {
                if seeds.is_empty() {
                    return Ok(Vec::new());
                }
                let mut request = PprRequest::new(seeds);
                request.top_k = 5;
                request.node_prefix = Some("p:".into());
                let answer = snapshot.ppr(&request, ws)?;
                Ok(answer
                    .results
                    .into_iter()
                    .map(|(k, _)| k.trim_start_matches("p:").to_string())
                    .collect())
            };
        let ppr_titles = rank_ppr(seeds.clone(), &mut workspace)?;
        // Hybrid: entity seeds plus the top keyword passages, weighted by their share of the
        // keyword score (HippoRAG 2 seeds passages from a dense retriever the same way).
        let total: f64 = by_keyword.iter().take(20).map(|(_, s)| s).sum();
        let mut hybrid = seeds.clone();
        for (i, s) in by_keyword.iter().take(20) {
            hybrid.push((format!("p:{}", passages[*i].0), 0.5 * s / total.max(1e-12)));
        }
        let hybrid_titles = rank_ppr(hybrid, &mut workspace)?;

        for (row, ranked) in [&keyword_titles, &ppr_titles, &hybrid_titles]
            .into_iter()
            .enumerate()
        {
            sums[row][0] += recall(ranked, &gold, 2);
            sums[row][1] += recall(ranked, &gold, 5);
        }
    }
    let n = questions.len() as f64;
    println!(
        "{} questions; {seeded} name at least one entity of the graph",
        questions.len()
    );
    println!(
        "{:<34} {:>9} {:>9}",
        "retriever (whole corpus, 521)", "recall@2", "recall@5"
    );
    for (name, s) in [
        "keyword overlap (IDF)",
        "PPR from question entities",
        "PPR from entities + keyword seeds",
    ]
    .iter()
    .zip(sums)
    {
        println!("{name:<34} {:>9.3} {:>9.3}", s[0] / n, s[1] / n);
    }
    Ok(())
}
