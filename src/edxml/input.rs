//! The counting input under the XML parser: every byte the parser or the attachment
//! streamer consumes is counted here, against the packet limit always and against the
//! header limit while the parser (not the attachment streamer) is reading. Owns the byte
//! counts and the "which limit ran out" flag; it knows nothing about XML.
//!
//! Limits are enforced by never *offering* more bytes than the budget allows: `fill_buf`
//! shortens its slice to the budget and fails once the budget is spent. quick-xml can then
//! never buffer more than the header limit, however long a text node or tag is.

use std::io::{self, BufRead, Read};

/// Which budget the next bytes are charged to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Budget {
    /// Markup and header values: charged to the header and packet limits.
    Header,
    /// Attachment content streamed past the parser: charged to the packet limit only.
    Content,
}

/// The limit that stopped the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LimitHit {
    Packet,
    Header,
}

/// A `BufRead` that counts consumed bytes and refuses to go past its budgets.
pub(crate) struct LimitedInput<R> {
    inner: R,
    budget: Budget,
    consumed: u64,
    header_consumed: u64,
    max_packet_bytes: u64,
    max_header_bytes: u64,
    limit_hit: Option<LimitHit>,
}

impl<R: BufRead> LimitedInput<R> {
    pub(crate) fn new(inner: R, max_packet_bytes: u64, max_header_bytes: u64) -> Self {
        LimitedInput {
            inner,
            budget: Budget::Header,
            consumed: 0,
            header_consumed: 0,
            max_packet_bytes,
            max_header_bytes,
            limit_hit: None,
        }
    }

    /// Charges the following bytes to `budget`.
    pub(crate) fn set_budget(&mut self, budget: Budget) {
        self.budget = budget;
    }

    /// The limit that made a read fail, if one did.
    pub(crate) fn limit_hit(&self) -> Option<LimitHit> {
        self.limit_hit
    }

    /// How many bytes the current budget still allows.
    fn allowance(&self) -> (u64, LimitHit) {
        let packet_left = self.max_packet_bytes.saturating_sub(self.consumed);
        let header_left = self.max_header_bytes.saturating_sub(self.header_consumed);
        match self.budget {
            Budget::Header if header_left < packet_left => (header_left, LimitHit::Header),
            _ => (packet_left, LimitHit::Packet),
        }
    }
}

impl<R: BufRead> BufRead for LimitedInput<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        let (allowance, limit) = self.allowance();
        let available = self.inner.fill_buf()?;
        if available.is_empty() {
            return Ok(available);
        }
        if allowance == 0 {
            self.limit_hit = Some(limit);
            return Err(io::Error::other("edXML input limit reached"));
        }
        let offered =
            usize::try_from(allowance).map_or(available.len(), |left| left.min(available.len()));
        Ok(&available[..offered])
    }

    fn consume(&mut self, amount: usize) {
        self.inner.consume(amount);
        let amount = amount as u64;
        self.consumed = self.consumed.saturating_add(amount);
        if self.budget == Budget::Header {
            self.header_consumed = self.header_consumed.saturating_add(amount);
        }
    }
}

impl<R: BufRead> Read for LimitedInput<R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let count = available.len().min(buffer.len());
        buffer[..count].copy_from_slice(&available[..count]);
        self.consume(count);
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_budget_stops_the_parser_but_not_content() {
        let data = [b'a'; 100];
        let mut input = LimitedInput::new(&data[..], 80, 10);
        let mut buffer = [0u8; 64];
        assert_eq!(
            input.read(&mut buffer).expect("within the header budget"),
            10
        );
        assert!(input.read(&mut buffer).is_err());
        assert_eq!(input.limit_hit(), Some(LimitHit::Header));
        input.set_budget(Budget::Content);
        assert_eq!(
            input.read(&mut buffer).expect("content has its own budget"),
            64
        );
        assert_eq!(input.read(&mut buffer).expect("up to the packet limit"), 6);
        assert!(input.read(&mut buffer).is_err());
        assert_eq!(input.limit_hit(), Some(LimitHit::Packet));
    }
}
