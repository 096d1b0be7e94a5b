#![no_main]
// See backend_scripts::fuzzing::policy for the properties asserted.
use backend_scripts_fuzz as _;

libfuzzer_sys::fuzz_target!(|input: &[u8]| backend_scripts::fuzzing::policy(input));
