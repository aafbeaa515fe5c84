//! Transaction payloads: the logical operations a transaction applied, in order.
//!
//! ```text
//! payload: op_count u32, then per op a tag u8 and its fields:
//!   1 NewNode     id u32, key str          (str = len u32 + UTF-8 bytes)
//!   2 NewRelation id u32, name str
//!   3 PutEdge     src u32, rel u32, dst u32, weight f64
//!   4 DelEdge     src u32, rel u32, dst u32
//!   5 DelNode     node u32
//! ```

use crate::format::{put_str, Cursor, DecodeError};
use crate::graph::{NodeId, RelId};

/// One logical operation of a transaction.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Op {
    NewNode {
        id: NodeId,
        key: String,
    },
    NewRelation {
        id: RelId,
        name: String,
    },
    PutEdge {
        src: NodeId,
        rel: RelId,
        dst: NodeId,
        weight: f64,
    },
    DelEdge {
        src: NodeId,
        rel: RelId,
        dst: NodeId,
    },
    DelNode {
        node: NodeId,
    },
}

pub(crate) fn encode_ops(ops: &[Op]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + ops.len() * 21);
    out.extend_from_slice(&(ops.len() as u32).to_le_bytes());
    for op in ops {
        match op {
            Op::NewNode { id, key } => {
                out.push(1);
                out.extend_from_slice(&id.to_le_bytes());
                put_str(&mut out, key);
            }
            Op::NewRelation { id, name } => {
                out.push(2);
                out.extend_from_slice(&id.to_le_bytes());
                put_str(&mut out, name);
            }
            Op::PutEdge {
                src,
                rel,
                dst,
                weight,
            } => {
                out.push(3);
                out.extend_from_slice(&src.to_le_bytes());
                out.extend_from_slice(&rel.to_le_bytes());
                out.extend_from_slice(&dst.to_le_bytes());
                out.extend_from_slice(&weight.to_le_bytes());
            }
            Op::DelEdge { src, rel, dst } => {
                out.push(4);
                out.extend_from_slice(&src.to_le_bytes());
                out.extend_from_slice(&rel.to_le_bytes());
                out.extend_from_slice(&dst.to_le_bytes());
            }
            Op::DelNode { node } => {
                out.push(5);
                out.extend_from_slice(&node.to_le_bytes());
            }
        }
    }
    out
}

pub(crate) fn decode_ops(payload: &[u8]) -> Result<Vec<Op>, DecodeError> {
    let mut c = Cursor::new(payload);
    let count = c.u32()? as usize;
    // Each op takes at least 5 bytes: bound the allocation by what the payload can hold.
    if count > c.remaining() / 5 {
        return Err(c.error(format!(
            "op count {count} exceeds what the payload can hold"
        )));
    }
    let mut ops = Vec::with_capacity(count);
    for _ in 0..count {
        let at = c.position();
        let op = match c.u8()? {
            1 => Op::NewNode {
                id: c.u32()?,
                key: c.str()?.to_string(),
            },
            2 => Op::NewRelation {
                id: c.u32()?,
                name: c.str()?.to_string(),
            },
            3 => Op::PutEdge {
                src: c.u32()?,
                rel: c.u32()?,
                dst: c.u32()?,
                weight: c.f64()?,
            },
            4 => Op::DelEdge {
                src: c.u32()?,
                rel: c.u32()?,
                dst: c.u32()?,
            },
            5 => Op::DelNode { node: c.u32()? },
            tag => {
                return Err(DecodeError {
                    offset: at as u64,
                    what: format!("unknown op tag {tag}"),
                })
            }
        };
        ops.push(op);
    }
    if c.remaining() != 0 {
        return Err(c.error(format!(
            "{} trailing bytes after the last op",
            c.remaining()
        )));
    }
    Ok(ops)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_round_trip() {
        let ops = vec![
            Op::NewNode {
                id: 7,
                key: "dog.n.01".into(),
            },
            Op::NewRelation {
                id: 0,
                name: "hypernym".into(),
            },
            Op::PutEdge {
                src: 7,
                rel: 0,
                dst: 3,
                weight: 2.5,
            },
            Op::DelEdge {
                src: 7,
                rel: 0,
                dst: 3,
            },
            Op::DelNode { node: 7 },
        ];
        assert_eq!(decode_ops(&encode_ops(&ops)).unwrap(), ops);
    }

    #[test]
    fn truncated_or_padded_payloads_are_rejected() {
        let bytes = encode_ops(&[Op::DelNode { node: 1 }]);
        for cut in 0..bytes.len() {
            assert!(decode_ops(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut padded = bytes.clone();
        padded.push(0);
        assert!(decode_ops(&padded).is_err());
    }
}
