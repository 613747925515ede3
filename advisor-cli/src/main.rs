//! The `advisor` binary: the command in `lib.rs`, with mimalloc as the allocator.

use std::process::ExitCode;

// Reading large models and traces is allocation-heavy: mimalloc imports a 1,000,000-node ONNX
// graph about 40 % faster than glibc's malloc (advisor-graph's import_analyze bench).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    quiet_vulkan_device_select();
    ExitCode::from(advisor_cli::run(std::env::args_os()))
}

/// Turns off Mesa's Vulkan device-selection layer for this process, unless the user set
/// `NODEVICE_SELECT` themselves. The layer only reorders GPUs to pick a display's default,
/// which hardware probing does not need, and on a headless machine it tries to reach a
/// Wayland display and prints `error: XDG_RUNTIME_DIR is invalid` to stderr, which would
/// garble our one-line errors.
fn quiet_vulkan_device_select() {
    if std::env::var_os("NODEVICE_SELECT").is_none() {
        #[allow(
            unsafe_code,
            reason = "set_var is only unsound with other threads running; this is the first \
                      thing main does, before any thread exists"
        )]
        // SAFETY: no other thread exists yet, so nothing reads the environment concurrently.
        unsafe {
            std::env::set_var("NODEVICE_SELECT", "1");
        }
    }
}
