//! The code parser and verifier, on any bytes a label scanner might hand over.
//!
//! Beyond not crashing: a code that verifies is exactly the string its key would print
//! for that batch and serial. If two strings could name one item, the second would be
//! a new key for the same redemption.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use yima_code::KeyRing;

/// The development key (config/dev-code-keys.txt) and a second one, so codes of an
/// older key verify too.
static RING: LazyLock<KeyRing> = LazyLock::new(|| {
    KeyRing::parse(
        "1:79696d612d64656d6f2d6b65792d646f2d6e6f742d7573652d696e2d70726f64,\
         2:f0e1d2c3b4a5968778695a4b3c2d1e0ff0e1d2c3b4a5968778695a4b3c2d1e0f",
    )
    .expect("fuzz key ring")
});

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(id) = RING.verify(text) {
        let key = RING.get(id.key_id).expect("a verified code names a known key");
        assert_eq!(key.sign(id.batch, id.serial).as_str(), text);
    }
});
