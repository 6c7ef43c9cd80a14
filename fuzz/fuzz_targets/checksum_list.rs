//! Checksum lists (SHA256SUMS and kin) on arbitrary bytes: typed errors, never a
//! panic; a digest found for a name is found again when the list is that one GNU
//! line, and candidate names for any file name stay few. The same bytes as a
//! directory index: the lists it names stay few and inside the directory.
#![no_main]

use libfuzzer_sys::fuzz_target;
use swarmload_core::checksum_file::{
    MAX_CANDIDATES, MAX_INDEXED_LISTS, candidates, find, indexed_lists,
};

fuzz_target!(|data: &[u8]| {
    // The first line names the file; the rest is the list.
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let name = String::from_utf8_lossy(&data[..split]).into_owned();
    let list = data.get(split + 1..).unwrap_or_default();
    for single in [false, true] {
        if let Ok(Some(h)) = find(list, &name, single) {
            let plain = !name.is_empty() && !name.starts_with("./") && name.trim() == name;
            if plain && !name.contains(['\n', '\r', '\\']) {
                let line = format!("{}  {name}\n", h.to_hex());
                assert_eq!(find(line.as_bytes(), &name, false), Ok(Some(h)));
            }
        }
    }
    assert!(candidates(&name).len() <= MAX_CANDIDATES);
    let listed = indexed_lists(data, std::slice::from_ref(&name));
    assert!(listed.len() <= MAX_INDEXED_LISTS);
    for l in listed {
        assert!(!l.is_empty() && !l.contains(['/', '\\', ':', '?', '#']) && !l.starts_with('.'));
    }
});
