//! The TSV edge-list format of the command-line contract (`shared/CLI.md`): a zero-copy parser
//! and a loader that interns keys and builds the [`CsrGraph`] queries run on.
//!
//! Format: lines starting with `#` and empty lines are skipped; every other line is
//! `src<TAB>relation<TAB>dst[<TAB>weight]`, the weight defaulting to 1.0 and required to be a
//! finite number > 0. Keys and relation names are non-empty UTF-8 without tab or newline. A
//! trailing `\r` is stripped from every line so that files written on Windows load as well.
//!
//! The parser borrows from the input buffer and allocates nothing per line, because bulk
//! imports of tens of megabytes must be bounded by the disk, not by the parser.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use crate::graph::{CsrGraph, Edge, NodeId, RelId};

/// Why a TSV input was rejected; every variant names the input and the 1-based line number so
/// that a user can open the file at the offending line.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum TsvError {
    /// The line does not have 3 or 4 tab-separated fields.
    #[error("{input} line {line}: expected 3 or 4 tab-separated fields (src, relation, dst[, weight]), found {found}")]
    FieldCount {
        /// Name of the input (file name or `-`).
        input: String,
        /// 1-based line number.
        line: u64,
        /// Number of fields found.
        found: usize,
    },
    /// A field is not valid UTF-8.
    #[error("{input} line {line}: {field} is not valid UTF-8")]
    InvalidUtf8 {
        /// Name of the input.
        input: String,
        /// 1-based line number.
        line: u64,
        /// Which field: `src`, `relation`, `dst` or `weight`.
        field: &'static str,
    },
    /// A key or relation name is empty.
    #[error("{input} line {line}: {field} is empty")]
    EmptyField {
        /// Name of the input.
        input: String,
        /// 1-based line number.
        line: u64,
        /// Which field: `src`, `relation` or `dst`.
        field: &'static str,
    },
    /// The weight does not parse as a finite number > 0.
    #[error("{input} line {line}: weight '{text}' is not a finite number > 0")]
    BadWeight {
        /// Name of the input.
        input: String,
        /// 1-based line number.
        line: u64,
        /// The weight field as written (lossily decoded).
        text: String,
    },
    /// More distinct node keys or relations than a 32-bit id can number.
    #[error("{input} line {line}: more than 2^32 - 1 distinct {what}")]
    TooMany {
        /// Name of the input.
        input: String,
        /// 1-based line number.
        line: u64,
        /// `node keys` or `relations`.
        what: &'static str,
    },
}

/// One edge line of a TSV input, borrowing its strings from the input buffer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TsvRecord<'a> {
    /// 1-based line number of the record in its input.
    pub line: u64,
    /// Source node key.
    pub src: &'a str,
    /// Relation name.
    pub rel: &'a str,
    /// Destination node key.
    pub dst: &'a str,
    /// Weight: finite and > 0 (1.0 when the column is absent).
    pub weight: f64,
}

/// A zero-copy iterator over the edge records of a TSV buffer.
///
/// It yields `Err` for the first malformed line and then stops, since later line numbers
/// cannot be trusted to mean what the user intended once one line is wrong.
#[derive(Clone, Debug)]
pub struct TsvParser<'a> {
    input_name: &'a str,
    bytes: &'a [u8],
    pos: usize,
    line: u64,
    failed: bool,
    ignore_weight: bool,
}

impl<'a> TsvParser<'a> {
    /// A parser over `bytes`; `input_name` is used in error messages.
    pub fn new(input_name: &'a str, bytes: &'a [u8]) -> TsvParser<'a> {
        TsvParser {
            input_name,
            bytes,
            pos: 0,
            line: 0,
            failed: false,
            ignore_weight: false,
        }
    }

    /// Numbers the first line of `bytes` as `line` (for inputs parsed a piece at a time).
    pub fn starting_at_line(mut self, line: u64) -> Self {
        self.line = line.saturating_sub(1);
        self
    }

    /// Accepts and ignores a fourth field whatever it holds (deletions have no weight); the
    /// record's weight is then 1.0.
    pub fn ignore_weight(mut self) -> Self {
        self.ignore_weight = true;
        self
    }

    fn parse_line(&self, raw: &'a [u8]) -> Result<TsvRecord<'a>, TsvError> {
        let line = self.line;
        let input = || self.input_name.to_string();
        let mut fields: [&'a [u8]; 4] = [&[]; 4];
        let mut count = 0usize;
        for field in raw.split(|&b| b == b'\t') {
            if count < 4 {
                fields[count] = field;
            }
            count += 1;
        }
        if !(3..=4).contains(&count) {
            return Err(TsvError::FieldCount {
                input: input(),
                line,
                found: count,
            });
        }
        const NAMES: [&str; 4] = ["src", "relation", "dst", "weight"];
        let mut strs: [&'a str; 3] = [""; 3];
        for i in 0..3 {
            let s = std::str::from_utf8(fields[i]).map_err(|_| TsvError::InvalidUtf8 {
                input: input(),
                line,
                field: NAMES[i],
            })?;
            if s.is_empty() {
                return Err(TsvError::EmptyField {
                    input: input(),
                    line,
                    field: NAMES[i],
                });
            }
            strs[i] = s;
        }
        let weight = if count == 4 && !self.ignore_weight {
            let text = std::str::from_utf8(fields[3]).map_err(|_| TsvError::InvalidUtf8 {
                input: input(),
                line,
                field: "weight",
            })?;
            match parse_weight(text) {
                Some(w) => w,
                None => {
                    return Err(TsvError::BadWeight {
                        input: input(),
                        line,
                        text: text.to_string(),
                    })
                }
            }
        } else {
            1.0
        };
        Ok(TsvRecord {
            line,
            src: strs[0],
            rel: strs[1],
            dst: strs[2],
            weight,
        })
    }
}

/// Parses a weight, accepting only finite values > 0. Small integers, by far the most common
/// weights, take a fast path that gives exactly what `str::parse` gives.
#[inline]
fn parse_weight(text: &str) -> Option<f64> {
    let b = text.as_bytes();
    if !b.is_empty() && b.len() <= 9 && b.iter().all(u8::is_ascii_digit) {
        let v = b
            .iter()
            .fold(0u64, |acc, &d| acc * 10 + u64::from(d - b'0'));
        return if v > 0 { Some(v as f64) } else { None };
    }
    match text.parse::<f64>() {
        Ok(w) if w.is_finite() && w > 0.0 => Some(w),
        _ => None,
    }
}

impl<'a> Iterator for TsvParser<'a> {
    type Item = Result<TsvRecord<'a>, TsvError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        while self.pos < self.bytes.len() {
            let rest = &self.bytes[self.pos..];
            let len = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
            let mut raw = &rest[..len];
            self.pos += len + 1;
            self.line += 1;
            if let [head @ .., b'\r'] = raw {
                raw = head;
            }
            if raw.is_empty() || raw[0] == b'#' {
                continue;
            }
            let parsed = self.parse_line(raw);
            self.failed = parsed.is_err();
            return Some(parsed);
        }
        None
    }
}

type FxBuild = BuildHasherDefault<crate::hash::IdHasher>;

/// A TSV input loaded into memory: interned keys, stored edges and the walkable CSR.
#[derive(Clone, Debug)]
pub struct LoadedGraph {
    /// Node keys by [`NodeId`], numbered in order of first appearance (src before dst, in file
    /// order): the same numbering igraph gets in the reference baselines.
    pub keys: Vec<String>,
    /// Relation names by [`RelId`], numbered in order of first appearance.
    pub relations: Vec<String>,
    /// The stored edges in order of first appearance; a repeated (src, relation, dst) line
    /// replaced the weight of the earlier one, as adding an existing edge does in the database.
    pub edges: Vec<Edge>,
    /// Number of input lines that repeated an earlier (src, relation, dst).
    pub replaced_duplicates: u64,
    /// The walkable links of `edges` in the requested mode.
    pub graph: CsrGraph,
}

impl LoadedGraph {
    /// The id of a node key, by a linear scan: meant for tests and tools, not hot paths
    /// (build a map from [`LoadedGraph::keys`] for many look-ups).
    pub fn node_id(&self, key: &str) -> Option<NodeId> {
        self.keys
            .iter()
            .position(|k| k == key)
            .and_then(|i| NodeId::try_from(i).ok())
    }
}

fn intern<'a>(
    map: &mut crate::hash::KeyMap<&'a str, u32>,
    names: &mut Vec<&'a str>,
    key: &'a str,
) -> Option<u32> {
    if let Some(&id) = map.get(key) {
        return Some(id);
    }
    let id = u32::try_from(names.len())
        .ok()
        .filter(|&id| id != u32::MAX)?;
    map.insert(key, id);
    names.push(key);
    Some(id)
}

/// Parses a whole TSV buffer and builds its graph; `undirected` selects the link mode (every
/// edge walkable both ways). Fails with the first malformed line.
pub fn load_graph(
    input_name: &str,
    bytes: &[u8],
    undirected: bool,
) -> Result<LoadedGraph, TsvError> {
    let mut node_map: crate::hash::KeyMap<&str, u32> = Default::default();
    let mut node_names: Vec<&str> = Vec::new();
    let mut rel_map: crate::hash::KeyMap<&str, u32> = Default::default();
    let mut rel_names: Vec<&str> = Vec::new();
    let mut edge_map: HashMap<(NodeId, RelId, NodeId), usize, FxBuild> = HashMap::default();
    let mut edges: Vec<Edge> = Vec::new();
    let mut replaced_duplicates = 0;
    let too_many = |line: u64, what: &'static str| TsvError::TooMany {
        input: input_name.to_string(),
        line,
        what,
    };
    for record in TsvParser::new(input_name, bytes) {
        let record = record?;
        let src = intern(&mut node_map, &mut node_names, record.src)
            .ok_or_else(|| too_many(record.line, "node keys"))?;
        let dst = intern(&mut node_map, &mut node_names, record.dst)
            .ok_or_else(|| too_many(record.line, "node keys"))?;
        let rel = intern(&mut rel_map, &mut rel_names, record.rel)
            .ok_or_else(|| too_many(record.line, "relations"))?;
        match edge_map.entry((src, rel, dst)) {
            std::collections::hash_map::Entry::Occupied(slot) => {
                edges[*slot.get()].weight = record.weight;
                replaced_duplicates += 1;
            }
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(edges.len());
                edges.push(Edge {
                    src,
                    rel,
                    dst,
                    weight: record.weight,
                });
            }
        }
    }
    let graph = CsrGraph::from_edges(node_names.len(), &edges, undirected);
    Ok(LoadedGraph {
        keys: node_names.into_iter().map(str::to_string).collect(),
        relations: rel_names.into_iter().map(str::to_string).collect(),
        edges,
        replaced_duplicates,
        graph,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::graph::Adjacency;

    fn parse_all(text: &str) -> Result<Vec<TsvRecord<'_>>, TsvError> {
        TsvParser::new("edges.tsv", text.as_bytes()).collect()
    }

    #[test]
    fn parses_records_comments_blank_lines_and_default_weight() {
        let text = "# header\n\na\tr\tb\t2.5\r\nb\tr\tc\n  \tr\tc\t1e-3\n";
        let recs = parse_all(text).unwrap();
        assert_eq!(recs.len(), 3);
        assert_eq!(
            recs[0],
            TsvRecord {
                line: 3,
                src: "a",
                rel: "r",
                dst: "b",
                weight: 2.5
            }
        );
        assert_eq!(recs[1].weight, 1.0);
        assert_eq!(recs[1].line, 4);
        assert_eq!(recs[2].src, "  ");
        assert_eq!(recs[2].weight, 1e-3);
    }

    #[test]
    fn weight_fast_path_agrees_with_std_parse() {
        for t in ["1", "7", "0012", "123456789", "1.5", "1e2", "0.0001"] {
            assert_eq!(parse_weight(t), Some(t.parse::<f64>().unwrap()), "{t}");
        }
        for t in ["0", "000", "-1", "NaN", "inf", "-0.0", "", "1,5", " 1"] {
            assert_eq!(parse_weight(t), None, "{t}");
        }
    }

    #[test]
    fn bad_weight_error_names_input_line_and_text() {
        let err = parse_all("a\tr\tb\n# c\na\tr\tb\tNaN\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "edges.tsv line 3: weight 'NaN' is not a finite number > 0"
        );
        for w in ["0", "-2", "inf", "abc", ""] {
            let err = parse_all(&format!("a\tr\tb\t{w}\n")).unwrap_err();
            let TsvError::BadWeight {
                line: 1, ref text, ..
            } = err
            else {
                panic!("{err:?}")
            };
            assert_eq!(text, w, "{err:?}");
        }
    }

    #[test]
    fn field_count_errors() {
        for (text, found) in [("a\tb\n", 2), ("a\n", 1), ("a\tr\tb\t1\tx\n", 5)] {
            let err = parse_all(text).unwrap_err();
            let TsvError::FieldCount {
                line: 1, found: f, ..
            } = err
            else {
                panic!("{err:?}")
            };
            assert_eq!(f, found, "{err:?}");
        }
        let err = parse_all("a\tr\tb\nx\ty\n").unwrap_err();
        assert!(err
            .to_string()
            .starts_with("edges.tsv line 2: expected 3 or 4"));
    }

    #[test]
    fn empty_field_errors() {
        for (text, field) in [
            ("\tr\tb\n", "src"),
            ("a\t\tb\n", "relation"),
            ("a\tr\t\n", "dst"),
        ] {
            let err = parse_all(text).unwrap_err();
            let TsvError::EmptyField {
                line: 1, field: f, ..
            } = err
            else {
                panic!("{err:?}")
            };
            assert_eq!(f, field, "{err:?}");
        }
    }

    #[test]
    fn invalid_utf8_errors() {
        let cases: [(&[u8], &str); 3] = [
            (b"\xff\tr\tb\n", "src"),
            (b"a\tr\t\xc3\n", "dst"),
            (b"a\tr\tb\t1\xff\n", "weight"),
        ];
        for (bytes, field) in cases {
            let err = TsvParser::new("x", bytes).next().unwrap().unwrap_err();
            let TsvError::InvalidUtf8 {
                line: 1, field: f, ..
            } = err
            else {
                panic!("{err:?}")
            };
            assert_eq!(f, field, "{err:?}");
        }
    }

    #[test]
    fn parser_stops_after_first_error() {
        let mut p = TsvParser::new("x", b"a\n\ta\tb\tc\n");
        assert!(p.next().unwrap().is_err());
        assert!(p.next().is_none());
    }

    #[test]
    fn load_interns_in_first_appearance_order_and_replaces_duplicates() {
        let text = "b\tr\ta\t1\na\ts\tc\t2\nb\tr\ta\t5\n";
        let g = load_graph("t", text.as_bytes(), false).unwrap();
        assert_eq!(g.keys, vec!["b", "a", "c"]);
        assert_eq!(g.relations, vec!["r", "s"]);
        assert_eq!(g.edges.len(), 2);
        assert_eq!(g.edges[0].weight, 5.0);
        assert_eq!(g.replaced_duplicates, 1);
        assert_eq!(g.graph.weight_sum(0), 5.0);
        assert_eq!(g.node_id("c"), Some(2));
        let u = load_graph("t", text.as_bytes(), true).unwrap();
        assert_eq!(u.graph.weight_sum(1), 7.0);
    }

    #[test]
    fn load_reports_parse_errors() {
        let err = load_graph("in.tsv", b"a\tr\tb\t-1\n", false).unwrap_err();
        assert_eq!(
            err.to_string(),
            "in.tsv line 1: weight '-1' is not a finite number > 0"
        );
    }
}
