//! Any GPU through wgpu adapter enumeration (Vulkan on Linux, Metal on macOS, DX12 and
//! Vulkan on Windows): the fallback when NVML found nothing.

use std::{
    future::Future,
    pin::pin,
    task::{Context, Poll, Waker},
    time::Duration,
};

use crate::gpu::{Adapter, AdapterType, GpuDevice, GpuFindings, GpuProbe};

/// The wgpu GPU probe; its report is named `wgpu`. Every adapter wgpu sees is listed, and
/// those that are not software renderers become GPUs (name, driver; wgpu does not tell
/// memory or compute capability, so those come from the accelerator table when the name
/// matches).
///
/// Starting wgpu loads the Vulkan loader and every installed driver (with Mesa's software
/// renderer, LLVM: about 229 MB mapped, most of `advisor hardware`'s start-up), so on Linux
/// the probe first looks for a GPU device node (`/dev/dri/renderD*`, `/dev/nvidia*`,
/// `/dev/kfd`) and, without one, reports itself unavailable without starting wgpu: a machine
/// with no GPU device node has no hardware GPU for wgpu to find. [`WgpuProbe::always`] lists
/// the adapters anyway (software renderers included).
#[derive(Debug, Clone, Copy, Default)]
pub struct WgpuProbe {
    /// Start wgpu even without a GPU device node.
    pub always: bool,
}

impl WgpuProbe {
    /// A probe that starts wgpu even on a machine without a GPU device node, to list its
    /// software adapters.
    pub fn always() -> WgpuProbe {
        WgpuProbe { always: true }
    }
}

/// Whether this machine has a device node a GPU driver creates. Linux only; elsewhere
/// (Metal, DX12) there is no such node to look for, and wgpu always starts.
fn has_gpu_device_node() -> bool {
    if !cfg!(target_os = "linux") {
        return true;
    }
    let dri = std::fs::read_dir("/dev/dri").is_ok_and(|entries| {
        entries
            .flatten()
            .any(|entry| entry.file_name().to_string_lossy().starts_with("renderD"))
    });
    let nvidia = std::fs::read_dir("/dev").is_ok_and(|entries| {
        entries
            .flatten()
            .any(|entry| entry.file_name().to_string_lossy().starts_with("nvidia"))
    });
    dri || nvidia || std::path::Path::new("/dev/kfd").exists()
}

/// The reason the probe gives when it skips wgpu.
pub const NO_DEVICE_NODE_REASON: &str = "no GPU device node (/dev/dri/renderD*, /dev/nvidia*, /dev/kfd): wgpu not started (`advisor hardware --software-adapters` lists software renderers anyway)";

impl GpuProbe for WgpuProbe {
    fn name(&self) -> &'static str {
        "wgpu"
    }

    fn probe(&self) -> Result<GpuFindings, String> {
        if !self.always && !has_gpu_device_node() {
            return Err(NO_DEVICE_NODE_REASON.to_owned());
        }
        let mut descriptor = wgpu::InstanceDescriptor::new_without_display_handle();
        descriptor.backends = wgpu::Backends::PRIMARY;
        // Validation layers and debug labels cost start-up time and are no use for listing.
        descriptor.flags = wgpu::InstanceFlags::empty();
        let instance = wgpu::Instance::new(descriptor);
        let adapters: Vec<Adapter> = block_on(instance.enumerate_adapters(wgpu::Backends::PRIMARY))
            .ok_or_else(|| "wgpu did not finish listing adapters within 5 s".to_owned())?
            .iter()
            .map(|adapter| {
                let info = adapter.get_info();
                Adapter::new(
                    info.name,
                    info.vendor,
                    info.device,
                    adapter_type(info.device_type),
                    info.backend.to_str(),
                    info.driver,
                    info.driver_info,
                )
            })
            .collect();
        if adapters.is_empty() {
            return Err(
                "wgpu found no graphics adapter (no Vulkan, Metal or DX12 driver)".to_owned(),
            );
        }
        let devices = adapters
            .iter()
            .filter(|adapter| !adapter.software)
            .map(|adapter| {
                let mut device = GpuDevice::named(adapter.name.trim());
                device.driver_version =
                    Some(adapter.driver_info.clone()).filter(|driver_info| !driver_info.is_empty());
                device
            })
            .collect();
        Ok(GpuFindings::new(devices, adapters))
    }
}

fn adapter_type(device_type: wgpu::DeviceType) -> AdapterType {
    match device_type {
        wgpu::DeviceType::DiscreteGpu => AdapterType::DiscreteGpu,
        wgpu::DeviceType::IntegratedGpu => AdapterType::IntegratedGpu,
        wgpu::DeviceType::VirtualGpu => AdapterType::VirtualGpu,
        wgpu::DeviceType::Cpu => AdapterType::Cpu,
        wgpu::DeviceType::Other => AdapterType::Other,
    }
}

/// Runs a future that native wgpu completes at once; gives up after 5 s rather than hang
/// the probe on a broken driver.
fn block_on<T>(future: impl Future<Output = T>) -> Option<T> {
    let mut future = pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    for _ in 0..5000 {
        if let Poll::Ready(value) = future.as_mut().poll(&mut context) {
            return Some(value);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    None
}
