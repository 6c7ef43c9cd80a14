//! Policy documents from arbitrary text: accepted ones resolve and survive a round
//! trip through JSON; rejected ones name a key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use swarmload_core::policy::{Policy, PolicyLayer};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match PolicyLayer::from_json(&text) {
        Ok(layer) => {
            let p = Policy::resolve(&[layer]);
            assert_eq!(Policy::from_json(&p.to_json()), Ok(p));
        }
        Err(e) => assert!(!e.key.is_empty()),
    }
});
