#![no_main]
// See backend_scripts::fuzzing::extract for the properties asserted.
use backend_scripts_fuzz as _;

libfuzzer_sys::fuzz_target!(|input: &str| backend_scripts::fuzzing::extract(input));
