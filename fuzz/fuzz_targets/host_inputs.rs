//! What the host reads from the browser, the network and its own files, from
//! arbitrary bytes: native-messaging messages, journal files, `Content-Disposition`
//! and `Content-Range` values, `config.toml`, `Link` headers and Metalink documents.
//! The first byte picks the decoder. None may panic; names must come out safe.
#![no_main]

use libfuzzer_sys::fuzz_target;
use swarmload_host::native_messaging::messages;
use swarmload_host::store::journal::Journal;
use swarmload_host::{config, filename, origin};

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    match which % 7 {
        0 => {
            if let Err(e) = messages::parse(rest) {
                // What goes on the wire: a JSON object of type `error`.
                let reply = serde_json::to_value(e.reply()).expect("a reply serializes");
                assert_eq!(reply["type"], "error");
            }
        }
        1 => {
            for (_, digest) in Journal::parse(rest) {
                let _ = digest.matches(rest);
            }
        }
        2 => {
            let url = url::Url::parse("http://origin.example/dir/file.bin").unwrap();
            let name = filename::choose(Some(&text), &url);
            assert!(!name.is_empty() && name.len() <= 200);
            assert!(!name.contains('/') && !name.contains('\\'));
            assert!(!name.chars().any(char::is_control));
            assert!(name != "." && name != "..");
        }
        3 => {
            if let Some((s, e, total)) = origin::parse_content_range(&text) {
                assert!(s < e && e <= total);
            }
        }
        4 => {
            let _ = config::parse_config(std::path::Path::new("config.toml"), &text);
        }
        5 => {
            let base = url::Url::parse("https://origin.example/dir/file.iso").unwrap();
            let _ = swarmload_core::metalink::describedby([text.as_ref()], &base);
            let _ = swarmload_core::metalink::duplicates([text.as_ref()], &base);
        }
        _ => {
            // A size from the fuzzer too: the leaf count must fit it.
            let size = u64::from(rest.first().copied().unwrap_or(0)) << 14;
            if let Ok(m) = swarmload_core::metalink::parse(&text, "file.iso", size) {
                if let Some(leaves) = m.leaves {
                    assert_eq!(leaves.len() as u64, size.div_ceil(16384));
                }
            }
        }
    }
});
