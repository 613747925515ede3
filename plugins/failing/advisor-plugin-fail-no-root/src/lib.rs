//! A plugin built to fail: a perfectly good dynamic library that exports no advisor root
//! module. The host refuses it with a diagnostic naming the missing symbol.

/// Something a library might export; not what the advisor looks for.
pub extern "C" fn advisor_plugin_fail_no_root_answer() -> u32 {
    42
}
