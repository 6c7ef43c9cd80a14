//! The `Content-Range` header of a 206 response (RFC 9110 §14.4), read the same way
//! by the host's fetcher and the browser peer's `fetch()`: one parser, one rule.

/// `bytes FIRST-LAST/TOTAL`, with `end` exclusive. `total` is `None` for `*` (the
/// server does not know the length).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentRange {
    pub start: u64,
    pub end: u64,
    pub total: Option<u64>,
}

impl ContentRange {
    /// Parses a header value. A range that ends before it starts, or at or past a
    /// known total, is refused: such a response cannot be the bytes asked for.
    pub fn parse(value: &str) -> Option<ContentRange> {
        let rest = value.trim().strip_prefix("bytes ")?;
        let (span, total) = rest.split_once('/')?;
        let (first, last) = span.split_once('-')?;
        let start: u64 = first.trim().parse().ok()?;
        let last: u64 = last.trim().parse().ok()?;
        let total = match total.trim() {
            "*" => None,
            t => Some(t.parse::<u64>().ok()?),
        };
        let fits = start <= last && total.is_none_or(|t| last < t);
        fits.then_some(ContentRange {
            start,
            end: last.checked_add(1)?,
            total,
        })
    }

    /// The complete length, for the callers that need one.
    pub fn with_total(self) -> Option<(u64, u64, u64)> {
        Some((self.start, self.end, self.total?))
    }
}

#[cfg(test)]
mod tests {
    use super::ContentRange;

    fn parse(v: &str) -> Option<(u64, u64, Option<u64>)> {
        ContentRange::parse(v).map(|r| (r.start, r.end, r.total))
    }

    #[test]
    fn ranges_parse_and_nonsense_is_refused() {
        assert_eq!(parse("bytes 0-0/10"), Some((0, 1, Some(10))));
        assert_eq!(parse("bytes 5-9/10"), Some((5, 10, Some(10))));
        assert_eq!(parse(" bytes 5-9/* "), Some((5, 10, None)));
        assert_eq!(parse("bytes 5-10/10"), None);
        assert_eq!(parse("bytes 6-5/10"), None);
        assert_eq!(parse("bytes */10"), None);
        assert_eq!(parse("items 0-1/5"), None);
        assert_eq!(parse("bytes x-0/1"), None);
        assert_eq!(parse("bytes 0-18446744073709551615/*"), None);
    }

    #[test]
    fn a_known_total_is_required_only_on_request() {
        assert_eq!(
            ContentRange::parse("bytes 0-1/5").and_then(ContentRange::with_total),
            Some((0, 2, 5))
        );
        assert_eq!(
            ContentRange::parse("bytes 0-1/*").and_then(ContentRange::with_total),
            None
        );
    }
}
