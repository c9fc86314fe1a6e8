//! Reading a request body within a bound, so that an oversized body costs no more memory than
//! the bound: a declared `Content-Length` over it is refused before anything is read, and a body
//! without one is read piece by piece until one piece takes it past the bound.
//!
//! Spin puts no bound of its own on a request body: its HTTP trigger hands the body to the
//! component as a stream that is read only as the component reads it (spinframework/spin
//! `crates/trigger-http/src/wasi.rs`, wasmtime-wasi-http's `HostIncomingBody`), so the bound has
//! to be the component's.

/// A body over its bound: by its declared `Content-Length`, or by the bytes sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooLarge;

/// A request body as the handlers see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Body<'a> {
    /// The whole body, at most the bound it was read with.
    Complete(&'a [u8]),
    /// The body is over the bound, by its `Content-Length` or by the bytes sent; the rest of it
    /// was never read.
    TooLarge,
}

/// The pieces of a body collected so far: never more than `limit` bytes.
#[derive(Debug)]
pub struct BoundedBody {
    bytes: Vec<u8>,
    limit: usize,
}

impl BoundedBody {
    /// Starts reading a body of at most `limit` bytes whose raw `Content-Length` header value is
    /// `content_length`.
    ///
    /// Errors with [`TooLarge`] when the header declares more than `limit`
    /// bytes: the caller answers without reading the body. A value that is not a decimal number
    /// is not trusted either way; the bound on the bytes pushed still holds (Spin's HTTP server,
    /// hyper, refuses such a request before any component sees it).
    pub fn start(limit: usize, content_length: Option<&[u8]>) -> Result<BoundedBody, TooLarge> {
        let declared = content_length
            .and_then(|raw| std::str::from_utf8(raw).ok())
            .and_then(|text| text.trim().parse::<u64>().ok());
        if declared.is_some_and(|declared| declared > limit as u64) {
            return Err(TooLarge);
        }
        Ok(BoundedBody {
            bytes: Vec::new(),
            limit,
        })
    }

    /// Adds the next piece of the body. Errors with [`TooLarge`] once the body
    /// is over `limit` bytes; the piece is then dropped and the caller stops reading.
    pub fn push(&mut self, piece: &[u8]) -> Result<(), TooLarge> {
        if self.bytes.len() + piece.len() > self.limit {
            return Err(TooLarge);
        }
        self.bytes.extend_from_slice(piece);
        Ok(())
    }

    /// The whole body, at most `limit` bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_declared_length_over_the_limit_is_refused_before_reading() {
        for declared in [&b"17"[..], b"67108864", b" 18446744073709551615 "] {
            assert_eq!(
                BoundedBody::start(16, Some(declared)).unwrap_err(),
                TooLarge,
                "{declared:?}"
            );
        }
        for fits in [&b"0"[..], b"16", b" 16 "] {
            assert!(BoundedBody::start(16, Some(fits)).is_ok(), "{fits:?}");
        }
    }

    #[test]
    fn a_length_that_is_no_number_leaves_the_bound_to_the_bytes() {
        for odd in [
            &b"lots"[..],
            b"-1",
            b"1e9",
            b"99999999999999999999999",
            b"\xff",
        ] {
            let mut body = BoundedBody::start(16, Some(odd)).unwrap();
            assert_eq!(body.push(&[b'x'; 17]), Err(TooLarge));
        }
    }

    #[test]
    fn pieces_are_taken_up_to_the_limit_and_refused_one_byte_past_it() {
        let mut body = BoundedBody::start(16, None).unwrap();
        body.push(b"0123456789").unwrap();
        body.push(b"").unwrap();
        body.push(b"abcdef").unwrap();
        assert_eq!(body.push(b"!"), Err(TooLarge));
        assert_eq!(body.into_bytes(), b"0123456789abcdef");
    }

    #[test]
    fn a_body_shorter_than_declared_is_what_was_sent() {
        let mut body = BoundedBody::start(16, Some(b"16")).unwrap();
        body.push(b"{}").unwrap();
        assert_eq!(body.into_bytes(), b"{}");
    }
}
