//! Small HTTP header readers the browser-only peer needs; pure, so tested natively.

/// `bytes A-B/TOTAL` → (A, TOTAL); TOTAL is `None` for `*`.
pub fn content_range(v: &str) -> Option<(u64, Option<u64>)> {
    let rest = v.trim().strip_prefix("bytes ")?;
    let (span, total) = rest.split_once('/')?;
    let (start, _) = span.split_once('-')?;
    Some((start.trim().parse().ok()?, total.trim().parse().ok()))
}

#[cfg(test)]
mod tests {
    use super::content_range;

    #[test]
    fn content_ranges_parse() {
        assert_eq!(content_range("bytes 0-0/1000"), Some((0, Some(1000))));
        assert_eq!(content_range("bytes 5-9/*"), Some((5, None)));
        assert_eq!(content_range("items 0-0/1"), None);
        assert_eq!(content_range("bytes x-0/1"), None);
    }
}
