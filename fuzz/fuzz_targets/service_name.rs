//! Service names as users write them: never a panic, and what parses prints back to
//! the same name.
#![no_main]

use headless_discovery::ServiceName;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| {
    if let Ok(name) = ServiceName::parse(input) {
        let again = ServiceName::parse(&name.to_string()).expect("a printed name parses");
        assert_eq!(again, name, "{input:?}");
    }
});
