#![no_main]
// See backend_scripts::fuzzing::template for the properties asserted.
use backend_scripts_fuzz as _;

libfuzzer_sys::fuzz_target!(|input: &str| backend_scripts::fuzzing::template(input));
