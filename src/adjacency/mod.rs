//! Adjacency: immutable CSR segment files (out- and in-adjacency, memory-mapped) plus the
//! in-memory delta of changes since the last checkpoint, and the merged view readers see.

mod delta;
mod segment;
pub(crate) mod view;

pub(crate) use delta::Delta;
pub(crate) use segment::{encode_columns as encode_segment_columns, Segment, SEGMENT_DIR};
pub(crate) use view::GraphView;
