//! The name a download is saved under: `Content-Disposition` (RFC 6266, with RFC 8187
//! `filename*`), else the last segment of the URL path, made safe for any file system.

use percent_encoding::percent_decode_str;

/// Longest name kept, in bytes (most file systems allow 255).
const MAX_NAME_BYTES: usize = 200;
const FALLBACK: &str = "download";

/// Picks and sanitises the file name for a download.
pub fn choose(content_disposition: Option<&str>, url: &url::Url) -> String {
    let from_header = content_disposition.and_then(from_content_disposition);
    let from_url = || {
        url.path_segments()
            .and_then(|mut s| s.next_back())
            .map(|seg| percent_decode_str(seg).decode_utf8_lossy().into_owned())
    };
    from_header
        .or_else(from_url)
        .map(|n| sanitise(&n))
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| FALLBACK.to_string())
}

/// `filename*=UTF-8''...` wins over `filename="..."`.
fn from_content_disposition(value: &str) -> Option<String> {
    let mut plain = None;
    let mut extended = None;
    for param in split_params(value).into_iter().skip(1) {
        let Some((key, val)) = param.split_once('=') else {
            continue;
        };
        match key.trim().to_ascii_lowercase().as_str() {
            "filename*" => {
                let val = val.trim();
                // charset'language'percent-encoded
                let mut parts = val.splitn(3, '\'');
                let charset = parts.next().unwrap_or_default();
                let _lang = parts.next();
                if let Some(enc) = parts.next()
                    && (charset.eq_ignore_ascii_case("utf-8")
                        || charset.eq_ignore_ascii_case("iso-8859-1"))
                {
                    extended = Some(percent_decode_str(enc).decode_utf8_lossy().into_owned());
                }
            }
            "filename" => plain = Some(unquote(val.trim())),
            _ => {}
        }
    }
    extended.or(plain)
}

/// Splits on `;` outside quoted strings.
fn split_params(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut escaped = false;
    for c in value.chars() {
        match c {
            _ if escaped => {
                cur.push(c);
                escaped = false;
            }
            '\\' if quoted => {
                cur.push(c);
                escaped = true;
            }
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            ';' if !quoted => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

fn unquote(v: &str) -> String {
    match v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) => {
            let mut out = String::new();
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    if let Some(n) = chars.next() {
                        out.push(n);
                    }
                } else {
                    out.push(c);
                }
            }
            out
        }
        None => v.to_string(),
    }
}

/// No path separators, no `..`, no control characters, no leading dots or trailing
/// dots and spaces (Windows), bounded length.
pub fn sanitise(name: &str) -> String {
    // Only the last path component counts: a name is never a path.
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last
        .chars()
        .map(|c| match c {
            c if c.is_control() => '_',
            ':' | '*' | '?' | '"' | '<' | '>' | '|' => '_',
            c => c,
        })
        .collect();
    let trimmed = cleaned
        .trim()
        .trim_start_matches('.')
        .trim_end_matches(['.', ' '])
        .to_string();
    let mut out = String::new();
    for c in trimmed.chars() {
        if out.len() + c.len_utf8() > MAX_NAME_BYTES {
            break;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> url::Url {
        url::Url::parse(s).unwrap()
    }

    #[test]
    fn content_disposition_wins_and_extended_wins_over_plain() {
        let u = url("http://h/path/file.bin");
        assert_eq!(
            choose(Some("attachment; filename=\"a b.iso\""), &u),
            "a b.iso"
        );
        assert_eq!(
            choose(
                Some("attachment; filename=\"plain.iso\"; filename*=UTF-8''%E2%82%AC%20rates.iso"),
                &u
            ),
            "€ rates.iso"
        );
        assert_eq!(
            // A backslash separates paths on Windows: only what follows counts.
            choose(Some("attachment; filename=x\\\"y.txt"), &u),
            "_y.txt"
        );
        assert_eq!(
            choose(Some("attachment; filename=\"semi;colon.txt\""), &u),
            "semi;colon.txt"
        );
        assert_eq!(choose(Some("inline"), &u), "file.bin");
        assert_eq!(choose(None, &u), "file.bin");
    }

    #[test]
    fn hostile_names_are_defused() {
        let u = url("http://h/");
        assert_eq!(
            choose(Some("attachment; filename=\"../../etc/passwd\""), &u),
            "passwd"
        );
        assert_eq!(choose(Some("attachment; filename=\"..\""), &u), "download");
        assert_eq!(
            choose(Some("attachment; filename=\"a\\\\..\\\\b.exe\""), &u),
            "b.exe"
        );
        assert_eq!(
            choose(Some("attachment; filename*=UTF-8''..%2F..%2Fx"), &u),
            "x"
        );
        assert_eq!(
            choose(Some("attachment; filename=\"a\u{7}b\nc\""), &u),
            "a_b_c"
        );
        assert_eq!(
            choose(Some("attachment; filename=\".hidden\""), &u),
            "hidden"
        );
        assert_eq!(choose(None, &url("http://h/dir/%2e%2e")), "download");
        assert_eq!(choose(None, &url("http://h/a%2Fb%00.bin")), "b_.bin");
        assert_eq!(choose(None, &url("http://h/")), "download");
        let long = "x".repeat(400) + ".bin";
        assert!(choose(None, &url(&format!("http://h/{long}"))).len() <= MAX_NAME_BYTES);
    }
}
