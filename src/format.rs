//! Byte-level helpers shared by every on-disk format: CRC32, the bounds-checked little-endian
//! reads of [`le`] and a [`Cursor`] over them. Decoders never index a slice directly: records go
//! through [`Cursor`], segment and walk-index columns through [`le`], so a damaged length or
//! offset becomes an error naming the offset (or, in a column whose length was checked when
//! its file was opened, cannot happen) instead of a panic.

/// CRC32 (IEEE, as zlib) over the concatenation of `parts`.
pub(crate) fn crc32(parts: &[&[u8]]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize()
}

/// Little-endian fixed-width reads at a byte offset: the one bounds-checked primitive of every
/// decoder. Each returns `None` when the value does not lie wholly inside the slice (offset
/// overflow included); none panics.
pub(crate) mod le {
    /// `N` bytes at `at`.
    #[inline]
    pub(crate) fn bytes<const N: usize>(b: &[u8], at: usize) -> Option<[u8; N]> {
        b.get(at..at.checked_add(N)?)?.try_into().ok()
    }

    /// The `u16` at byte offset `at`.
    #[inline]
    pub(crate) fn u16(b: &[u8], at: usize) -> Option<u16> {
        bytes(b, at).map(u16::from_le_bytes)
    }

    /// The `u32` at byte offset `at`.
    #[inline]
    pub(crate) fn u32(b: &[u8], at: usize) -> Option<u32> {
        bytes(b, at).map(u32::from_le_bytes)
    }

    /// The `u64` at byte offset `at`.
    #[inline]
    pub(crate) fn u64(b: &[u8], at: usize) -> Option<u64> {
        bytes(b, at).map(u64::from_le_bytes)
    }

    /// The `f64` at byte offset `at`.
    #[inline]
    pub(crate) fn f64(b: &[u8], at: usize) -> Option<f64> {
        bytes(b, at).map(f64::from_le_bytes)
    }

    /// Element `i` of a column of `u16`s.
    #[inline]
    pub(crate) fn u16_col(b: &[u8], i: usize) -> Option<u16> {
        u16(b, i.checked_mul(2)?)
    }

    /// Element `i` of a column of `u32`s.
    #[inline]
    pub(crate) fn u32_col(b: &[u8], i: usize) -> Option<u32> {
        u32(b, i.checked_mul(4)?)
    }

    /// Element `i` of a column of `f64`s.
    #[inline]
    pub(crate) fn f64_col(b: &[u8], i: usize) -> Option<f64> {
        f64(b, i.checked_mul(8)?)
    }

    /// Every `u32` of a column, in order (a trailing partial value is not one).
    pub(crate) fn u32s(b: &[u8]) -> impl Iterator<Item = u32> + '_ {
        (0..b.len() / 4).filter_map(move |i| u32_col(b, i))
    }

    /// Every `u16` of a column, in order.
    pub(crate) fn u16s(b: &[u8]) -> impl Iterator<Item = u16> + '_ {
        (0..b.len() / 2).filter_map(move |i| u16_col(b, i))
    }

    /// Every `f64` of a column, in order.
    pub(crate) fn f64s(b: &[u8]) -> impl Iterator<Item = f64> + '_ {
        (0..b.len() / 8).filter_map(move |i| f64_col(b, i))
    }
}

/// A bounds-checked little-endian reader over a byte slice.
#[derive(Debug)]
pub(crate) struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

/// Why a decode failed, and where (offset within the slice the cursor was made over).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DecodeError {
    pub(crate) offset: u64,
    pub(crate) what: String,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Cursor<'a> {
        Cursor { bytes, pos: 0 }
    }

    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    pub(crate) fn error(&self, what: impl Into<String>) -> DecodeError {
        DecodeError {
            offset: self.pos as u64,
            what: what.into(),
        }
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() {
            return Err(self.error(format!("needs {n} bytes, only {} remain", self.remaining())));
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let out = le::bytes(self.bytes, self.pos).ok_or_else(|| {
            self.error(format!("needs {N} bytes, only {} remain", self.remaining()))
        })?;
        self.pos += N;
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    pub(crate) fn f64(&mut self) -> Result<f64, DecodeError> {
        Ok(f64::from_le_bytes(self.array()?))
    }

    /// A string stored as a u32 byte length and UTF-8 bytes.
    pub(crate) fn str(&mut self) -> Result<&'a str, DecodeError> {
        let start = self.pos;
        let len = self.u32()? as usize;
        let bytes = self.take(len)?;
        std::str::from_utf8(bytes).map_err(|_| DecodeError {
            offset: start as u64,
            what: "string is not UTF-8".into(),
        })
    }
}

/// Appends a string as a u32 byte length and its UTF-8 bytes.
pub(crate) fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_reports_the_offset_of_a_short_read() {
        let mut c = Cursor::new(&[1, 0, 0, 0, 9]);
        assert_eq!(c.u32().unwrap(), 1);
        let err = c.u64().unwrap_err();
        assert_eq!(err.offset, 4);
    }

    #[test]
    fn strings_round_trip_and_reject_bad_utf8() {
        let mut out = Vec::new();
        put_str(&mut out, "dog.n.01");
        assert_eq!(Cursor::new(&out).str().unwrap(), "dog.n.01");
        let bad = [2, 0, 0, 0, 0xff, 0xfe];
        assert!(Cursor::new(&bad).str().is_err());
    }
}
