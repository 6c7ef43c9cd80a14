//! Checksum lists that publishers put beside their files, as a trusted source of a
//! download's SHA-256: Debian's and Ubuntu's `SHA256SUMS`, Node.js's
//! `SHASUMS256.txt`, `<file>.sha256`, GitHub releases' `checksums.txt` and
//! `<project>_<version>_checksums.txt`, AlmaLinux's `CHECKSUM`.
//!
//! This module holds what the native host and the browser peer share: which names to
//! try ([`candidates`]) and how to read a list ([`find`]). Where the lists are
//! fetched from (the download's own origin only, in the same directory, over HTTPS
//! when the download is HTTPS) is the fetcher's rule; see docs/extension.md.
//!
//! Formats read, one entry a line:
//! - GNU `sha256sum`: `HEX  NAME` (text mode) or `HEX *NAME` (binary mode), with
//!   `\`-escaped names when the line starts with a backslash;
//! - BSD `sha256 -r`/`shasum --tag`: `SHA256 (NAME) = HEX`;
//! - plain lists: `HEX NAME`, `HEX\tNAME`;
//! - a lone `HEX` (a `<file>.sha256` that names nothing), which stands for the file
//!   the list was fetched for.
//!
//! PGP clear-signed lists (`SHA256SUMS.asc`, Ubuntu's `SHA256SUMS` with an inline
//! signature) are read as the text they sign; the signature is not checked. Lines
//! with other digests (SHA-1, MD5, SHA-512) are skipped. A name listed twice with
//! two different digests is refused rather than guessed.

use crate::content::Hash32;

/// The longest list read; real ones are a few KiB (a distribution's SHA256SUMS with
/// hundreds of images stays under 100 KiB).
pub const MAX_LIST_BYTES: usize = 1024 * 1024;
/// How many names [`candidates`] proposes at most.
pub const MAX_CANDIDATES: usize = 14;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChecksumError {
    #[error("the checksum list is {0} bytes, more than the {MAX_LIST_BYTES} read")]
    TooLarge(usize),
    #[error("the checksum list is not text")]
    NotText,
    #[error("the checksum list gives {name} two different SHA-256 digests")]
    Conflicting { name: String },
}

/// Names of checksum lists to look for in the directory of a file named `file`,
/// most specific first: a list made for this file alone can only be about it.
pub fn candidates(file: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut push = |name: String| {
        if !name.is_empty() && !out.contains(&name) && out.len() < MAX_CANDIDATES {
            out.push(name);
        }
    };
    for suffix in SINGLE_FILE_SUFFIXES {
        if !file.is_empty() {
            push(format!("{file}{suffix}"));
        }
    }
    // One list per release, named after it: Julia's `julia-1.10.3.sha256` beside
    // `julia-1.10.3-linux-x86_64.tar.gz`.
    if let Some(release) = release_of(file) {
        push(format!("{release}.sha256"));
    }
    push("SHA256SUMS".to_string());
    push("SHASUMS256.txt".to_string());
    push("checksums.txt".to_string());
    // goreleaser, on most GitHub releases: `hugo_0.120.0_Linux-64bit.tar.gz` beside
    // `hugo_0.120.0_checksums.txt`.
    let mut parts = file.splitn(3, '_');
    if let (Some(project), Some(version), Some(_)) = (parts.next(), parts.next(), parts.next())
        && !project.is_empty()
        && version.starts_with(|c: char| c.is_ascii_digit() || c == 'v')
    {
        push(format!("{project}_{version}_checksums.txt"));
        // HashiCorp's releases: `terraform_1.8.2_SHA256SUMS`.
        push(format!("{project}_{version}_SHA256SUMS"));
    }
    push("sha256sums.txt".to_string());
    // Linux Mint.
    push("sha256sum.txt".to_string());
    // kernel.org: clear-signed.
    push("sha256sums.asc".to_string());
    // syncthing's GitHub releases: clear-signed.
    push("sha256sum.txt.asc".to_string());
    // AlmaLinux, Rocky Linux (BSD lines).
    push("CHECKSUM".to_string());
    out
}

/// The release a file belongs to, by the common `<name>-<version>-<platform>…`
/// pattern: the dash-separated parts up to the first that starts with a digit (or
/// `v` and a digit), when something follows it.
fn release_of(file: &str) -> Option<String> {
    let parts: Vec<&str> = file.split('-').collect();
    let version = parts.iter().skip(1).position(|p| {
        let p = p.strip_prefix('v').unwrap_or(p);
        p.starts_with(|c: char| c.is_ascii_digit())
    })? + 1;
    // The version part is the last: nothing names a platform, so no release name.
    if version + 1 >= parts.len() {
        return None;
    }
    Some(parts[..=version].join("-"))
}

/// Suffixes of lists made for one file alone (`<file>.sha256`; Adoptium's
/// `<file>.sha256.txt`), in which a lone digest stands for that file.
pub const SINGLE_FILE_SUFFIXES: [&str; 3] = [".sha256", ".sha256sum", ".sha256.txt"];

/// Whether the list named `list` was made for the file `file` alone.
pub fn is_single_file_list(list: &str, file: &str) -> bool {
    SINGLE_FILE_SUFFIXES
        .iter()
        .any(|s| list.strip_suffix(s) == Some(file))
}

/// The SHA-256 the list `text` gives for the file named `file` (the last path
/// segment the download resolves to), `Ok(None)` when it names no such file.
/// `single` says the list was made for this file alone (`<file>.sha256`), so a lone
/// digest with no name stands for it.
pub fn find(text: &[u8], file: &str, single: bool) -> Result<Option<Hash32>, ChecksumError> {
    if text.len() > MAX_LIST_BYTES {
        return Err(ChecksumError::TooLarge(text.len()));
    }
    let text = std::str::from_utf8(text).map_err(|_| ChecksumError::NotText)?;
    let mut found: Option<Hash32> = None;
    let mut lone: Option<Hash32> = None;
    let mut lones_differ = false;
    for line in signed_text(text) {
        let Some(entry) = parse_line(line) else {
            continue;
        };
        let hit = match &entry.name {
            Some(name) => names_file(name, file),
            None => {
                lones_differ |= lone.is_some_and(|h| h != entry.digest);
                lone = Some(entry.digest);
                false
            }
        };
        if hit {
            if found.is_some_and(|h| h != entry.digest) {
                return Err(ChecksumError::Conflicting {
                    name: file.to_string(),
                });
            }
            found = Some(entry.digest);
        }
    }
    if found.is_none() && single {
        if lones_differ {
            return Err(ChecksumError::Conflicting {
                name: file.to_string(),
            });
        }
        found = lone;
    }
    Ok(found)
}

/// The lines a PGP clear-signed message signs (RFC 4880 §7), or every line of a
/// plain text.
fn signed_text(text: &str) -> Box<dyn Iterator<Item = &str> + '_> {
    let mut lines = text.lines();
    let signed = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .is_some_and(|l| l.trim() == "-----BEGIN PGP SIGNED MESSAGE-----");
    if !signed {
        return Box::new(lines);
    }
    // Armor headers ("Hash: SHA512") up to the first empty line, then the text up to
    // the signature; dash-escaped lines lose their "- ".
    for l in lines.by_ref() {
        if l.trim().is_empty() {
            break;
        }
    }
    Box::new(
        lines
            .take_while(|l| l.trim() != "-----BEGIN PGP SIGNATURE-----")
            .map(|l| l.strip_prefix("- ").unwrap_or(l)),
    )
}

struct Entry {
    digest: Hash32,
    name: Option<String>,
}

fn parse_line(line: &str) -> Option<Entry> {
    let line = line.trim_end_matches(['\r', ' ', '\t']);
    let trimmed = line.trim_start();
    // BSD: `SHA256 (name) = hex`.
    if let Some(rest) = trimmed.strip_prefix("SHA256 (") {
        let (name, hex) = rest.rsplit_once(") = ")?;
        return Some(Entry {
            digest: hex64(hex.trim())?,
            name: Some(name.to_string()),
        });
    }
    // GNU: a leading backslash means the name has `\\` and `\n` escapes.
    let (escaped, body) = match trimmed.strip_prefix('\\') {
        Some(b) => (true, b),
        None => (false, trimmed),
    };
    let hex_end = body
        .find(|c: char| !c.is_ascii_hexdigit())
        .unwrap_or(body.len());
    let digest = hex64(&body[..hex_end])?;
    let rest = &body[hex_end..];
    if rest.trim().is_empty() {
        return Some(Entry { digest, name: None });
    }
    // One separator (space or tab), then GNU's mode mark (`*` binary, ` ` text).
    let rest = rest.strip_prefix([' ', '\t'])?;
    let name = rest
        .strip_prefix(['*', ' '])
        .unwrap_or(rest)
        .trim_start_matches(['\t']);
    if name.is_empty() {
        return Some(Entry { digest, name: None });
    }
    let name = if escaped {
        unescape(name)?
    } else {
        name.to_string()
    };
    Some(Entry {
        digest,
        name: Some(name),
    })
}

fn hex64(s: &str) -> Option<Hash32> {
    (s.len() == 64).then(|| Hash32::from_hex(s).ok()).flatten()
}

fn unescape(name: &str) -> Option<String> {
    let mut out = String::with_capacity(name.len());
    let mut chars = name.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            '\\' => out.push('\\'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            _ => return None,
        }
    }
    Some(out)
}

/// Whether a list's `name` is the file: exactly its name, or a relative path whose
/// last segment it is (`./x`, `amd64/x` as in some mirrors' lists).
fn names_file(name: &str, file: &str) -> bool {
    if file.is_empty() {
        return false;
    }
    let name = name.strip_prefix("./").unwrap_or(name);
    name == file || name.rsplit_once('/').is_some_and(|(_, last)| last == file)
}

/// Lists taken from one directory index at most.
pub const MAX_INDEXED_LISTS: usize = 4;
/// The longest directory index read.
pub const MAX_INDEX_BYTES: usize = 1024 * 1024;

/// Names of further checksum lists that a directory index (the HTML page Apache's
/// and nginx's autoindex make for a directory) links to: Fedora's
/// `…-x86_64-CHECKSUM`, FreeBSD's `CHECKSUM.SHA256-…`, CentOS's `<file>.SHA256SUM`,
/// a release's `<name>-<version>.sha256`. Only relative links to files in the same
/// directory, whose names say SHA-256 or checksum; not those in `tried`; detached
/// signatures skipped; at most [`MAX_INDEXED_LISTS`], in page order. The links are
/// returned as written (still percent-encoded), to be joined to the directory.
pub fn indexed_lists(html: &[u8], tried: &[String]) -> Vec<String> {
    let html = &html[..html.len().min(MAX_INDEX_BYTES)];
    let text = String::from_utf8_lossy(html);
    let lower = text.to_ascii_lowercase();
    let mut out: Vec<String> = Vec::new();
    let mut at = 0;
    while let Some(i) = lower[at..].find("href=") {
        let start = at + i + "href=".len();
        at = start;
        let rest = &text[start..];
        let link = match rest.chars().next() {
            Some(q @ ('"' | '\'')) => rest[1..].split(q).next().unwrap_or_default(),
            _ => rest
                .split(|c: char| c.is_ascii_whitespace() || c == '>')
                .next()
                .unwrap_or_default(),
        };
        if !is_listed_list(link) {
            continue;
        }
        let decoded = percent_decode(link);
        if tried.iter().any(|t| t == &decoded) || out.iter().any(|o| o == link) {
            continue;
        }
        out.push(link.to_string());
        if out.len() == MAX_INDEXED_LISTS {
            break;
        }
    }
    out
}

/// Whether an index's link is a checksum list in the same directory.
fn is_listed_list(link: &str) -> bool {
    if link.is_empty()
        || link.len() > 255
        || link.starts_with('.')
        || link.contains(['/', '\\', ':', '?', '#', '&', '<', '>', '"', '\''])
        || link.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return false;
    }
    let name = percent_decode(link).to_ascii_lowercase();
    const SIGNATURES: [&str; 7] = [
        ".sig",
        ".gpg",
        ".sign",
        ".minisig",
        ".pem",
        ".crt",
        ".sigstore",
    ];
    if SIGNATURES.iter().any(|s| name.ends_with(s)) {
        return false;
    }
    name.contains("sha256") || name.contains("checksum") || name.contains("shasums")
}

/// `%XX` sequences decoded; anything malformed is kept as it is.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex_val(b[i + 1]), hex_val(b[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_val(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// The directory of a download's URL (query and fragment dropped), where its lists
/// are looked for; http(s) URLs only.
pub fn directory(url: &url::Url) -> Option<url::Url> {
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    let mut dir = url.clone();
    dir.set_query(None);
    dir.set_fragment(None);
    dir.join("./").ok()
}

/// The last segment of `url`'s path, percent-decoded: the name a list beside it
/// would give the file. `None` when it is empty.
pub fn file_name(url: &url::Url) -> Option<String> {
    url.path_segments()?
        .next_back()
        .map(percent_decode)
        .filter(|n| !n.is_empty())
}

/// Checksum lists that name the file with different digests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the checksum lists disagree about the file")]
pub struct ListsDisagree;

/// The first of the lists' findings (most specific first), when they all agree:
/// lists that disagree prove nothing.
pub fn agreed<T>(found: Vec<T>, digest: impl Fn(&T) -> Hash32) -> Result<Option<T>, ListsDisagree> {
    if found.windows(2).any(|w| digest(&w[0]) != digest(&w[1])) {
        return Err(ListsDisagree);
    }
    Ok(found.into_iter().next())
}

/// The list looked for in the directories above the file's.
pub const PARENT_LIST: &str = "SHA256SUMS";
/// How many directories up.
pub const PARENT_LEVELS: usize = 3;

/// The directories above `dir` (at most [`PARENT_LEVELS`], never above the root),
/// each with the file's path relative to it, as a list there would name it.
pub fn parent_lists(dir: &url::Url, file: &url::Url) -> Vec<(url::Url, String)> {
    let segments: Vec<String> = file
        .path_segments()
        .map(|s| s.map(percent_decode).collect())
        .unwrap_or_default();
    let mut out = Vec::new();
    let mut parent = dir.clone();
    for up in 1..=PARENT_LEVELS {
        if parent.path() == "/" || segments.len() <= up {
            break;
        }
        let Ok(next) = parent.join("../") else {
            break;
        };
        parent = next;
        let path = segments[segments.len() - 1 - up..].join("/");
        out.push((parent.clone(), path));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03";
    const B: &str = "b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b878ae4944c";

    fn h(hex: &str) -> Option<Hash32> {
        Some(Hash32::from_hex(hex).unwrap())
    }

    #[test]
    fn gnu_text_and_binary_mode() {
        let list = format!(
            "{A}  ubuntu-24.04-desktop-amd64.iso\n{B} *ubuntu-24.04-live-server-amd64.iso\n"
        );
        assert_eq!(
            find(list.as_bytes(), "ubuntu-24.04-desktop-amd64.iso", false),
            Ok(h(A))
        );
        assert_eq!(
            find(list.as_bytes(), "ubuntu-24.04-live-server-amd64.iso", false),
            Ok(h(B))
        );
        assert_eq!(find(list.as_bytes(), "other.iso", false), Ok(None));
    }

    #[test]
    fn bsd_tag_format_and_uppercase_hex() {
        let list = format!("SHA256 (node-v22.1.0.tar.gz) = {}\n", A.to_uppercase());
        assert_eq!(
            find(list.as_bytes(), "node-v22.1.0.tar.gz", false),
            Ok(h(A))
        );
    }

    #[test]
    fn plain_lists_with_one_space_or_a_tab_and_crlf() {
        let list = format!("{A} tool-linux.tar.gz\r\n{B}\ttool-mac.zip\r\n");
        assert_eq!(find(list.as_bytes(), "tool-linux.tar.gz", false), Ok(h(A)));
        assert_eq!(find(list.as_bytes(), "tool-mac.zip", false), Ok(h(B)));
    }

    #[test]
    fn a_lone_digest_stands_only_for_the_file_its_list_was_made_for() {
        let list = format!("{A}\n");
        assert_eq!(find(list.as_bytes(), "x.iso", true), Ok(h(A)));
        assert_eq!(find(list.as_bytes(), "x.iso", false), Ok(None));
    }

    #[test]
    fn paths_in_the_list_match_on_their_last_segment_and_names_must_be_exact() {
        let list = format!("{A}  ./dist/app.exe\n{B}  app.exe.sig\n");
        assert_eq!(find(list.as_bytes(), "app.exe", false), Ok(h(A)));
        assert_eq!(find(list.as_bytes(), "app", false), Ok(None));
        assert_eq!(find(list.as_bytes(), "pp.exe", false), Ok(None));
    }

    #[test]
    fn clear_signed_lists_are_read_as_the_text_they_sign() {
        let list = format!(
            "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n{A} *debian-12.5.0-amd64-netinst.iso\n- {B} *dashed.iso\n-----BEGIN PGP SIGNATURE-----\n\niQIzBAEBCgAdFiEE\n{B} *debian-12.5.0-amd64-netinst.iso\n-----END PGP SIGNATURE-----\n"
        );
        assert_eq!(
            find(list.as_bytes(), "debian-12.5.0-amd64-netinst.iso", false),
            Ok(h(A)),
            "nothing after the signature starts counts"
        );
        assert_eq!(find(list.as_bytes(), "dashed.iso", false), Ok(h(B)));
    }

    #[test]
    fn other_digests_are_skipped_and_contradictions_refused() {
        let sha1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709";
        let list = format!("{sha1}  f.iso\n{A}  f.iso\n");
        assert_eq!(find(list.as_bytes(), "f.iso", false), Ok(h(A)));
        let twice = format!("{A}  f.iso\n{B}  f.iso\n");
        assert!(matches!(
            find(twice.as_bytes(), "f.iso", false),
            Err(ChecksumError::Conflicting { .. })
        ));
        let same_twice = format!("{A}  f.iso\n{A} *f.iso\n");
        assert_eq!(find(same_twice.as_bytes(), "f.iso", false), Ok(h(A)));
    }

    #[test]
    fn escaped_gnu_names() {
        let list = format!("\\{A}  a\\\\b\\nc.bin\n");
        assert_eq!(find(list.as_bytes(), "a\\b\nc.bin", false), Ok(h(A)));
    }

    #[test]
    fn oversized_and_binary_lists_are_typed_errors() {
        let big = vec![b'a'; MAX_LIST_BYTES + 1];
        assert_eq!(
            find(&big, "f", false),
            Err(ChecksumError::TooLarge(MAX_LIST_BYTES + 1))
        );
        assert_eq!(
            find(&[0xff, 0xfe, 0x00], "f", false),
            Err(ChecksumError::NotText)
        );
        assert_eq!(find(b"<html>404 not found</html>", "f", false), Ok(None));
    }

    #[test]
    fn candidate_names_are_few_and_specific_first() {
        let c = candidates("hugo_0.120.0_Linux-64bit.tar.gz");
        assert_eq!(c[0], "hugo_0.120.0_Linux-64bit.tar.gz.sha256");
        assert!(c.contains(&"hugo_0.120.0_checksums.txt".to_string()));
        assert!(c.contains(&"SHA256SUMS".to_string()));
        assert!(c.contains(&"SHASUMS256.txt".to_string()));
        assert!(c.len() <= MAX_CANDIDATES);
        let plain = candidates("setup.exe");
        assert!(!plain.iter().any(|n| n.ends_with("_checksums.txt")));
    }

    #[test]
    fn a_directory_index_names_the_lists_the_fixed_names_miss() {
        let apache = br#"<html><body><h1>Index of /iso/</h1><table>
<tr><td><a href="?C=N;O=D">Name</a></td></tr>
<tr><td><a href="/pub/">Parent Directory</a></td></tr>
<tr><td><a href="Fedora-Workstation-40-1.14-x86_64-CHECKSUM">Fedora-Workstation-40-1.14-x86_64-CHECKSUM</a></td></tr>
<tr><td><a href="Fedora-Workstation-Live-x86_64-40-1.14.iso">Fedora-Workstation-Live-x86_64-40-1.14.iso</a></td></tr>
<tr><td><a href="SHA256SUMS">SHA256SUMS</a></td></tr>
<tr><td><a href="SHA256SUMS.gpg">SHA256SUMS.gpg</a></td></tr>
<tr><td><a href="https://evil.example/SHA256SUMS">elsewhere</a></td></tr>
<tr><td><a href="../SHA256SUMS">up</a></td></tr>
<tr><td><a href=CHECKSUM.SHA256-FreeBSD-14.0-RELEASE-amd64>unquoted</a></td></tr>
<tr><td><A HREF='blender-4.1.1.sha256'>upper case</A></td></tr>
<tr><td><a href="x%20y.SHA256SUM">encoded</a></td></tr>
<tr><td><a href="more.sha256">one too many</a></td></tr>
</table></body></html>"#;
        let tried = vec!["SHA256SUMS".to_string()];
        assert_eq!(
            indexed_lists(apache, &tried),
            [
                "Fedora-Workstation-40-1.14-x86_64-CHECKSUM",
                "CHECKSUM.SHA256-FreeBSD-14.0-RELEASE-amd64",
                "blender-4.1.1.sha256",
                "x%20y.SHA256SUM",
            ]
        );
        assert!(indexed_lists(b"", &[]).is_empty());
        assert!(indexed_lists(b"href=", &[]).is_empty());
        assert!(indexed_lists(b"href=\"", &[]).is_empty());
        assert!(indexed_lists("href='\u{e9}sha256'".as_bytes(), &[]).len() == 1);
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("a%zz%41"), "a%zzA");
    }

    #[test]
    fn a_release_list_is_named_after_the_release() {
        assert_eq!(
            release_of("julia-1.10.3-linux-x86_64.tar.gz").as_deref(),
            Some("julia-1.10.3")
        );
        assert_eq!(
            release_of("blender-4.1.1-linux-x64.tar.xz").as_deref(),
            Some("blender-4.1.1")
        );
        assert_eq!(
            release_of("tool-v2.0-win64.zip").as_deref(),
            Some("tool-v2.0")
        );
        assert_eq!(release_of("node-v20.12.2.tar.gz"), None);
        assert_eq!(release_of("setup.exe"), None);
        assert_eq!(release_of("1.2-x"), None);
        assert!(
            candidates("julia-1.10.3-linux-x86_64.tar.gz")
                .contains(&"julia-1.10.3.sha256".to_string())
        );
    }

    #[test]
    fn lists_above_name_the_file_by_its_path_from_there() {
        let file = url::Url::parse(
            "https://ftp.example/pub/fx/releases/125.0/linux-x86_64/en-US/fx%20125.tar.bz2",
        )
        .unwrap();
        let got: Vec<(String, String)> = parent_lists(&file.join("./").unwrap(), &file)
            .into_iter()
            .map(|(u, p)| (u.to_string(), p))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "https://ftp.example/pub/fx/releases/125.0/linux-x86_64/".to_string(),
                    "en-US/fx 125.tar.bz2".to_string()
                ),
                (
                    "https://ftp.example/pub/fx/releases/125.0/".to_string(),
                    "linux-x86_64/en-US/fx 125.tar.bz2".to_string()
                ),
                (
                    "https://ftp.example/pub/fx/releases/".to_string(),
                    "125.0/linux-x86_64/en-US/fx 125.tar.bz2".to_string()
                ),
            ]
        );
        let shallow = url::Url::parse("https://a.example/dir/x.iso").unwrap();
        let got = parent_lists(&shallow.join("./").unwrap(), &shallow);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0.as_str(), "https://a.example/");
        assert_eq!(got[0].1, "dir/x.iso");
        let top = url::Url::parse("https://a.example/x.iso").unwrap();
        assert!(parent_lists(&top.join("./").unwrap(), &top).is_empty());
    }

    #[test]
    fn a_downloads_directory_name_and_agreeing_lists() {
        let u = url::Url::parse("https://dl.example.org/isos/12.5/deb%20ian.iso?x=1#sha").unwrap();
        assert_eq!(
            directory(&u).unwrap().as_str(),
            "https://dl.example.org/isos/12.5/"
        );
        assert!(directory(&url::Url::parse("ftp://x/y").unwrap()).is_none());
        assert_eq!(file_name(&u).as_deref(), Some("deb ian.iso"));
        assert_eq!(
            file_name(&url::Url::parse("https://a.example/dir/").unwrap()),
            None
        );
        let (a, b) = (Hash32([1; 32]), Hash32([2; 32]));
        assert_eq!(agreed(vec![(a, 1), (a, 2)], |f| f.0), Ok(Some((a, 1))));
        assert_eq!(agreed(Vec::<(Hash32, u8)>::new(), |f| f.0), Ok(None));
        assert_eq!(agreed(vec![(a, 1), (b, 2)], |f| f.0), Err(ListsDisagree));
    }
}
